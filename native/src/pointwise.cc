// A register-blocked AVX-512 kernel for 1×1 convolutions on NHWC activations:
// y[M, N] = act(x[M, K] · w[K, N] + b) (+ add), w the TF.js kernel [1, 1, K, N] as it is (row major).
//
// Why our own: COVID-Net's pointwise convs are small GEMMs (K, N = 16…1024; M = one image's pixels,
// or a tile of them), where dnnl_sgemm's packing and dispatch, and oneDNN matmul's, cost as much as
// the arithmetic on small shapes, and neither can add a skip sum or feed a fused module (pepx.cc).
// Measured single-threaded on the 2-core Xeon (AVX-512, best of 15): 1.1–2× dnnl_sgemm + its
// bias/ReLU pass on COVID-Net's shapes, and ahead of oneDNN's matmul in the whole 224² network.
//
// Scheme: the output is cut into column panels of up to 64 (4 zmm, the last one masked) and R-row
// blocks; an R×panel block of accumulators lives in registers over a K chunk (R = 12, 12, 8, 6
// for 1–4 vectors: ≤ 24 accumulators + the panel's weights + a broadcast). Bias initialises the
// accumulators; ReLU and the skip sum are applied before the last store. Each block prefetches the
// next block's x rows (one line per row per 16 k): the hardware prefetcher does not keep up with
// R interleaved row streams, and with x past L2 (a PEPX module's input map) a 224 × 64 → 32
// product ran at 34 instead of 52 GMAC/s on the 2-core EPYC, 45 with the prefetch. Built for AVX-512F by a
// function attribute (no -march flag), used only where the CPU has it.
#include "kernels.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>

namespace covidnet {
namespace {

bool packEnabled() {
  static const bool on = !std::getenv("COVIDNET_NOPACK");
  return on;
}

template <int R, int V>
__attribute__((target("avx512f"))) inline void block(int64_t K, int64_t ldx, int64_t ldw, int64_t N, const float *x, const float *w, const float *b,
                                                     float *y, const float *add, __mmask16 tail, bool first, bool relu, const float *pf) {
  __m512 acc[R][V];
  // GCC keeps acc in registers only when these loops are unrolled before scalar replacement
  // (without the pragmas it spilled every accumulator each k: 30–45 instead of 55–130 GFLOP/s).
  if (first) {
    _Pragma("GCC unroll 16") for (int v = 0; v < V; v++) {
      const __m512 bv = !b ? _mm512_setzero_ps() : v == V - 1 ? _mm512_maskz_loadu_ps(tail, b + 16 * v) : _mm512_loadu_ps(b + 16 * v);
      _Pragma("GCC unroll 16") for (int r = 0; r < R; r++) acc[r][v] = bv;
    }
  } else {
    _Pragma("GCC unroll 16") for (int r = 0; r < R; r++) {
      _Pragma("GCC unroll 16") for (int v = 0; v < V; v++) {
        acc[r][v] = v == V - 1 ? _mm512_maskz_loadu_ps(tail, y + r * N + 16 * v) : _mm512_loadu_ps(y + r * N + 16 * v);
      }
    }
  }
  for (int64_t k = 0; k < K; k++) {
    if ((k & 15) == 0) {
      _Pragma("GCC unroll 16") for (int r = 0; r < R; r++) _mm_prefetch(reinterpret_cast<const char *>(pf + r * ldx + k), _MM_HINT_T0);
    }
    __m512 wv[V];
    _Pragma("GCC unroll 16") for (int v = 0; v < V; v++) {
      wv[v] = v == V - 1 ? _mm512_maskz_loadu_ps(tail, w + k * ldw + 16 * v) : _mm512_loadu_ps(w + k * ldw + 16 * v);
    }
    _Pragma("GCC unroll 16") for (int r = 0; r < R; r++) {
      const __m512 xv = _mm512_set1_ps(x[r * ldx + k]);
      _Pragma("GCC unroll 16") for (int v = 0; v < V; v++) acc[r][v] = _mm512_fmadd_ps(xv, wv[v], acc[r][v]);
    }
  }
  const __m512 zero = _mm512_setzero_ps();
  _Pragma("GCC unroll 16") for (int r = 0; r < R; r++) {
    _Pragma("GCC unroll 16") for (int v = 0; v < V; v++) {
      __m512 o = relu ? _mm512_max_ps(acc[r][v], zero) : acc[r][v];
      if (add) o = _mm512_add_ps(o, v == V - 1 ? _mm512_maskz_loadu_ps(tail, add + r * N + 16 * v) : _mm512_loadu_ps(add + r * N + 16 * v));
      if (v == V - 1) _mm512_mask_storeu_ps(y + r * N + 16 * v, tail, o);
      else _mm512_storeu_ps(y + r * N + 16 * v, o);
    }
  }
}

// the last M mod R rows as one block of that many rows (a tile of 56 or 49 pixels leaves 8 or 1)
template <int V, int Rm>
__attribute__((target("avx512f"))) inline void rest(int64_t rows, int64_t K, int64_t ldx, int64_t ldw, int64_t N, const float *x, const float *w,
                                                    const float *b, float *y, const float *add, __mmask16 tail, bool first, bool relu, const float *pf) {
  if constexpr (Rm > 0) {
    if (rows == Rm) block<Rm, V>(K, ldx, ldw, N, x, w, b, y, add, tail, first, relu, pf);
    else rest<V, Rm - 1>(rows, K, ldx, ldw, N, x, w, b, y, add, tail, first, relu, pf);
  }
}

// One column panel: K in chunks of kKChunk so that a chunk of the panel's weights (128 × 64 floats,
// 32 KB) stays in L1 while every row block passes over it; later chunks add onto y, and ReLU waits
// for the last. Without chunks, 49×1024×512 ran at half dnnl_sgemm's speed. When the panel is
// part of wider rows (N > 64) the chunk is first copied into a contiguous buffer: strided by N·4
// bytes (a power of two in COVID-Net), its rows would fall into a fraction of L1's sets and evict
// each other.
constexpr int64_t kKChunk = 128;
alignas(64) thread_local float packedPanel[kKChunk * 64];
template <int V>
__attribute__((target("avx512f"))) void panel(int64_t M, int64_t K, int64_t N, const float *x, const float *w, const float *b, float *y,
                                              const float *add, __mmask16 tail, bool relu) {
  constexpr int R = V <= 2 ? 12 : V == 3 ? 8 : 6;
  const bool pack = N > 64 && M >= 2 * R && packEnabled();
  for (int64_t k0 = 0; k0 < K; k0 += kKChunk) {
    const int64_t kc = std::min(kKChunk, K - k0);
    const bool first = k0 == 0, last = k0 + kc == K;
    const float *xk = x + k0, *wk = w + k0 * N;
    int64_t ldw = N;
    if (pack) {
      for (int64_t k = 0; k < kc; k++) {
        _Pragma("GCC unroll 4") for (int v = 0; v < V; v++) {
          const __m512 t = v == V - 1 ? _mm512_maskz_loadu_ps(tail, wk + k * N + 16 * v) : _mm512_loadu_ps(wk + k * N + 16 * v);
          _mm512_store_ps(packedPanel + k * 16 * V + 16 * v, t);
        }
      }
      wk = packedPanel;
      ldw = 16 * V;
    }
    const float *ad = last ? add : nullptr;
    // full blocks, then the remainder; a remainder under R/2 rows shares the last full block's rows
    // (49 = 7·6 + 4 + 3, not 8·6 + 1: a 1-row block loads the weights for a sixth of the work)
    const int64_t rem = M % R;
    const int64_t full = M / R - (rem && rem < R / 2 && M >= R ? 1 : 0);
    int64_t m = 0;
    for (int64_t i = 0; i < full; i++, m += R) block<R, V>(kc, K, ldw, N, xk + m * K, wk, b, y + m * N, ad ? ad + m * N : nullptr, tail, first, relu && last, xk + (m + R) * K);
    const int64_t left = M - m, first2 = left > R ? (left + 1) / 2 : left;
    if (first2 > 0) rest<V, R>(first2, kc, K, ldw, N, xk + m * K, wk, b, y + m * N, ad ? ad + m * N : nullptr, tail, first, relu && last, xk + (m + first2) * K);
    m += first2;
    if (m < M) rest<V, R>(M - m, kc, K, ldw, N, xk + m * K, wk, b, y + m * N, ad ? ad + m * N : nullptr, tail, first, relu && last, xk + M * K);
  }
}

}  // namespace

bool pointwiseKernelAvailable() noexcept {
  static const bool has = __builtin_cpu_supports("avx512f");
  return has;
}

void pointwiseKernel(int64_t M, int64_t K, int64_t N, const float *x, const float *w, const float *b, float *y, bool relu,
                     const float *add) noexcept {
  for (int64_t n0 = 0; n0 < N; n0 += 64) {
    const int64_t nn = std::min<int64_t>(64, N - n0);
    const int V = int((nn + 15) / 16);
    const __mmask16 tail = __mmask16((1u << (nn - 16 * (V - 1))) - 1);
    const float *wp = w + n0, *bp = b ? b + n0 : nullptr;
    float *yp = y + n0;
    const float *ap = add ? add + n0 : nullptr;
    switch (V) {
      case 1: panel<1>(M, K, N, x, wp, bp, yp, ap, tail, relu); break;
      case 2: panel<2>(M, K, N, x, wp, bp, yp, ap, tail, relu); break;
      case 3: panel<3>(M, K, N, x, wp, bp, yp, ap, tail, relu); break;
      default: panel<4>(M, K, N, x, wp, bp, yp, ap, tail, relu); break;
    }
  }
}

void pointwiseKernelParallel(int64_t M, int64_t K, int64_t N, const float *x, const float *w, const float *b, float *y, bool relu,
                             const float *add) noexcept {
  const int T = omp_get_max_threads();
  if (T <= 1 || double(M) * K * N < kSmallMacs) {
    pointwiseKernel(M, K, N, x, w, b, y, relu, add);
    return;
  }
  // whole 24-row groups per thread (24: a multiple of every R)
  const int64_t groups = (M + 23) / 24, per = (groups + T - 1) / T;
#pragma omp parallel for schedule(static)
  for (int t = 0; t < T; t++) {
    const int64_t r0 = std::min(M, per * 24 * t), r1 = std::min(M, r0 + per * 24);
    if (r1 > r0) pointwiseKernel(r1 - r0, K, N, x + r0 * K, w, b, y + r0 * N, relu, add ? add + r0 * N : nullptr);
  }
}

}  // namespace covidnet
