// A dense layer on a few rows with a large weight matrix (COVID-Net's first head layer at 224²:
// 8 images × 50176 inputs × 1024 units, 205 MB of weights per batch): y = act(x · w + b).
//
// Why our own: with so few rows the layer only streams the weights, and how it reads them is all
// that matters. dnnl_sgemm took 21–28 ms per batch on the 2-core Xeon (7–10 GB/s); ONNX Runtime,
// with weights it packs once at load, 14 ms. Ours cannot pack ahead (the weights may change
// between calls), so it reads w in its own row order: the threads split K, each streams blocks of
// whole contiguous rows into a partial sum of its own, and the partial sums are added at the end.
// Within a block the accumulators of a column chunk stay in registers over all its rows, and the
// chunk's columns of the next block are prefetched (into L2) as it goes: on the 2-core EPYC at
// 8 × 50176 × 1024 this took 7.1–7.5 ms per batch against 10.5–11.4 with 8-row blocks and no
// prefetch (the hardware prefetcher does not follow a chunk's 4 KB-strided walk; 2 threads stream
// plain reads at 31 GB/s, 6.6 ms).
#include "kernels.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <vector>

namespace covidnet {
namespace {

constexpr int64_t kRowsPerGroup = 8;  // x rows per register block (8 × 2 zmm accumulators)

// weight rows per block: longer blocks load and store the partial sums less often, shorter ones
// touch fewer 4 KB pages at a time (measured best at M = 1–2: 8, 4: 16, 8: 32–64, 16: 64)
int64_t rowsPerBlock(int64_t M) { return M <= 2 ? 8 : M <= 4 ? 16 : M <= 8 ? 32 : 64; }

template <int R>
__attribute__((target("avx512f"))) inline void chunk(int64_t K, int64_t N, const float *x, const float *w, float *part, int64_t k0, int64_t kn,
                                                     int64_t n0, __mmask16 m0, __mmask16 m1, bool first, int64_t pfEnd) {
  __m512 acc[R][2];
  _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {
    acc[r][0] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m0, part + r * N + n0);
    acc[r][1] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m1, part + r * N + n0 + 16);
  }
  for (int64_t k = k0; k < k0 + kn; k++) {
    // this chunk's two cache lines of the row one block ahead (pfEnd: the rows this thread reads)
    if (k + kn < pfEnd) {
      const char *p = reinterpret_cast<const char *>(w + (k + kn) * N + n0);
      _mm_prefetch(p, _MM_HINT_T1);
      _mm_prefetch(p + 64, _MM_HINT_T1);
    }
    const __m512 w0 = _mm512_maskz_loadu_ps(m0, w + k * N + n0), w1 = _mm512_maskz_loadu_ps(m1, w + k * N + n0 + 16);
    _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {
      const __m512 xv = _mm512_set1_ps(x[r * K + k]);
      acc[r][0] = _mm512_fmadd_ps(xv, w0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(xv, w1, acc[r][1]);
    }
  }
  _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {
    _mm512_mask_storeu_ps(part + r * N + n0, m0, acc[r][0]);
    _mm512_mask_storeu_ps(part + r * N + n0 + 16, m1, acc[r][1]);
  }
}

template <int R>
__attribute__((target("avx512f"))) void group(int64_t K, int64_t N, const float *x, const float *w, float *part, int64_t k0, int64_t kn, bool first,
                                               int64_t pfEnd) {
  for (int64_t n0 = 0; n0 < N; n0 += 32) {
    const int64_t a = std::min<int64_t>(16, N - n0), b = std::clamp<int64_t>(N - n0 - 16, 0, 16);
    const __mmask16 m0 = __mmask16((1u << a) - 1), m1 = __mmask16((1u << b) - 1);
    chunk<R>(K, N, x, w, part, k0, kn, n0, m0, m1, first, pfEnd);
  }
}

// partial[M, N] = x[:, k0:k1] · w[k0:k1, :] on the calling thread
void partialProduct(int64_t M, int64_t K, int64_t N, const float *x, const float *w, float *part, int64_t k0, int64_t k1) {
  const int64_t block = rowsPerBlock(M);
  for (int64_t kb = k0; kb < k1; kb += block) {
    const int64_t kn = std::min(block, k1 - kb);
    const bool first = kb == k0;
    for (int64_t r0 = 0; r0 < M; r0 += kRowsPerGroup) {
      const int64_t rows = std::min(kRowsPerGroup, M - r0);
      const float *xr = x + r0 * K;
      float *pr = part + r0 * N;
      const int64_t pfEnd = r0 == 0 ? k1 : 0;  // the first row group prefetches for all
      switch (rows) {
        case 1: group<1>(K, N, xr, w, pr, kb, kn, first, pfEnd); break;
        case 2: group<2>(K, N, xr, w, pr, kb, kn, first, pfEnd); break;
        case 3: group<3>(K, N, xr, w, pr, kb, kn, first, pfEnd); break;
        case 4: group<4>(K, N, xr, w, pr, kb, kn, first, pfEnd); break;
        case 5: group<5>(K, N, xr, w, pr, kb, kn, first, pfEnd); break;
        case 6: group<6>(K, N, xr, w, pr, kb, kn, first, pfEnd); break;
        case 7: group<7>(K, N, xr, w, pr, kb, kn, first, pfEnd); break;
        default: group<8>(K, N, xr, w, pr, kb, kn, first, pfEnd); break;
      }
    }
  }
}

}  // namespace

bool denseStreamFits(int64_t M) noexcept {
  // few rows: the weights are read once per 8 rows, at most 8 times. Small layers too (the 256 → 3
  // classifier): dnnl_sgemm's first call after the image-parallel trunk cost 1–2 ms per batch at
  // 112² b16, whatever its size, and this product does not.
  return M <= 64;
}

void denseStream(int64_t M, int64_t K, int64_t N, const float *x, const float *w, const float *b, float *y, bool relu) {
  const int T = std::max(1, std::min<int>(omp_get_max_threads(), int(K / 1024)));
  std::vector<float> parts(size_t(T) * size_t(M * N));
#pragma omp parallel num_threads(T) if (T > 1)
  {
    const int t = omp_get_thread_num();
    const int64_t k0 = K * t / T, k1 = K * (t + 1) / T;
    partialProduct(M, K, N, x, w, parts.data() + size_t(t) * size_t(M * N), k0, k1);
  }
  for (int64_t i = 0; i < M * N; i++) {
    float v = parts[size_t(i)];
    for (int t = 1; t < T; t++) v += parts[size_t(t) * size_t(M * N) + size_t(i)];
    v += b ? b[i % N] : 0.f;
    y[i] = relu && v < 0.f ? 0.f : v;
  }
}

}  // namespace covidnet
