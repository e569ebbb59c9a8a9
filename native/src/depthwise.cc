// The training gradient of relu(depthwise3×3(x, w) + b) (stride 1, zero pad 1, multiplier 1, NHWC;
// COVID-Net's PEPX depthwise convs) in one pass: the ReLU-masked gradient g of each output row is
// formed once into a three-row ring, reduced into db, multiplied with the three input rows around
// it into dW, and the input gradient of each row gathered from the three g rows around it.
//
// Why our own: oneDNN's path took three passes (the mask, backward weights, backward data) over
// maps that do not stay in cache, plus a weight reorder each; this reads dy, y and x once and writes
// dx once. Channels are the vector lanes (16 per zmm, the last vector masked), so any C works.
// Threads split the batch's rows; each keeps its own dW/db partials, added in a fixed order at the
// end (results do not depend on scheduling).
#include "kernels.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>

namespace covidnet {
namespace {

struct Geometry {
  int64_t H, W, C;
  int64_t row() const { return W * C; }
};

inline __mmask16 maskFor(int64_t C, int64_t c0) { return __mmask16((1u << std::min<int64_t>(16, C - c0)) - 1); }

// ring slot of output row ho (rows ho-1, ho, ho+1 are never in the same slot)
inline float *slot(float *ring, const Geometry &g, int64_t ho) { return ring + (ho % 3) * g.row(); }

__attribute__((target("avx512f"))) void maskRow(const Geometry &g, const float *dy, const float *y, float *out) {
  const int64_t n = g.row();
  const __m512 zero = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __mmask16 pos = _mm512_cmp_ps_mask(_mm512_loadu_ps(y + i), zero, _CMP_GT_OQ);
    _mm512_storeu_ps(out + i, _mm512_maskz_loadu_ps(pos, dy + i));
  }
  if (i < n) {
    const __mmask16 m = __mmask16((1u << (n - i)) - 1);
    const __mmask16 pos = _mm512_mask_cmp_ps_mask(m, _mm512_maskz_loadu_ps(m, y + i), zero, _CMP_GT_OQ);
    _mm512_mask_storeu_ps(out + i, m, _mm512_maskz_loadu_ps(pos, dy + i));
  }
}

// dW (9 taps) and db contributions of g row ho, for one image x
__attribute__((target("avx512f"))) void weightsRow(const Geometry &g, const float *x, const float *gr, int64_t ho, float *pdw, float *pdb) {
  const int64_t W = g.W, C = g.C, row = g.row();
  const float *xr[3];
  for (int kh = 0; kh < 3; kh++) {
    const int64_t hi = ho + kh - 1;
    xr[kh] = hi >= 0 && hi < g.H ? x + hi * row : nullptr;
  }
  for (int64_t c0 = 0; c0 < C; c0 += 16) {
    const __mmask16 m = maskFor(C, c0);
    __m512 acc[9], accb = _mm512_setzero_ps();
    _Pragma("GCC unroll 9") for (int k = 0; k < 9; k++) acc[k] = _mm512_setzero_ps();
    for (int64_t w = 0; w < W; w++) {
      const __m512 gv = _mm512_maskz_loadu_ps(m, gr + w * C + c0);
      accb = _mm512_add_ps(accb, gv);
      _Pragma("GCC unroll 3") for (int kh = 0; kh < 3; kh++) {
        if (!xr[kh]) continue;
        const float *xp = xr[kh] + c0;
        if (w > 0) acc[kh * 3 + 0] = _mm512_fmadd_ps(gv, _mm512_maskz_loadu_ps(m, xp + (w - 1) * C), acc[kh * 3 + 0]);
        acc[kh * 3 + 1] = _mm512_fmadd_ps(gv, _mm512_maskz_loadu_ps(m, xp + w * C), acc[kh * 3 + 1]);
        if (w + 1 < W) acc[kh * 3 + 2] = _mm512_fmadd_ps(gv, _mm512_maskz_loadu_ps(m, xp + (w + 1) * C), acc[kh * 3 + 2]);
      }
    }
    _Pragma("GCC unroll 9") for (int k = 0; k < 9; k++) {
      float *p = pdw + k * C + c0;
      _mm512_mask_storeu_ps(p, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, p), acc[k]));
    }
    _mm512_mask_storeu_ps(pdb + c0, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, pdb + c0), accb));
  }
}

// dx row hi of one image from the g rows hi-1, hi, hi+1 (null: outside the map)
__attribute__((target("avx512f"))) void dataRow(const Geometry &g, const float *const gr[3], const float *w, float *dxr) {
  const int64_t W = g.W, C = g.C;
  for (int64_t c0 = 0; c0 < C; c0 += 16) {
    const __mmask16 m = maskFor(C, c0);
    __m512 wv[9];
    _Pragma("GCC unroll 9") for (int k = 0; k < 9; k++) wv[k] = _mm512_maskz_loadu_ps(m, w + k * C + c0);
    for (int64_t wi = 0; wi < W; wi++) {
      __m512 acc = _mm512_setzero_ps();
      // dx[hi][wi] = Σ g[hi - kh + 1][wi - kw + 1] · w[kh][kw]; gr[j] is g row hi - 1 + j, so kh = 2 - j
      _Pragma("GCC unroll 3") for (int j = 0; j < 3; j++) {
        if (!gr[j]) continue;
        const float *gp = gr[j] + c0;
        const int kh = 2 - j;
        if (wi + 1 < W) acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, gp + (wi + 1) * C), wv[kh * 3 + 0], acc);
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, gp + wi * C), wv[kh * 3 + 1], acc);
        if (wi > 0) acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, gp + (wi - 1) * C), wv[kh * 3 + 2], acc);
      }
      _mm512_mask_storeu_ps(dxr + wi * C + c0, m, acc);
    }
  }
}

// rows [h0, h1) of one image
void band(const Geometry &g, const float *dy, const float *y, const float *x, const float *w, float *dx, float *pdw, float *pdb, int64_t h0,
          int64_t h1, float *ring) {
  const int64_t row = g.row();
  auto make = [&](int64_t ho) { maskRow(g, dy + ho * row, y + ho * row, slot(ring, g, ho)); };
  if (h0 > 0) make(h0 - 1);
  make(h0);
  for (int64_t h = h0; h < h1; h++) {
    if (h + 1 < g.H) make(h + 1);
    weightsRow(g, x, slot(ring, g, h), h, pdw, pdb);
    if (dx) {
      const float *gr[3] = {h > 0 ? slot(ring, g, h - 1) : nullptr, slot(ring, g, h), h + 1 < g.H ? slot(ring, g, h + 1) : nullptr};
      dataRow(g, gr, w, dx + h * row);
    }
  }
}

}  // namespace

size_t depthwise3x3BackwardScratchFloats(int64_t W, int64_t C, int threads) noexcept {
  return size_t(threads) * size_t(3 * W * C + 10 * C);
}

void depthwise3x3Backward(int64_t N, int64_t H, int64_t W, int64_t C, const float *dy, const float *y, const float *x, const float *w,
                          float *dx, float *dw, float *db, float *scratch, int threads) noexcept {
  const Geometry g{H, W, C};
  const int64_t rows = N * H, per = 3 * W * C + 10 * C;
  const int T = std::max(1, std::min<int>(threads, int(rows)));
#pragma omp parallel num_threads(T) if (T > 1)
  {
    const int t = omp_get_thread_num();
    float *ring = scratch + size_t(t) * size_t(per), *pdw = ring + 3 * W * C, *pdb = pdw + 9 * C;
    std::fill(pdw, pdw + 10 * C, 0.f);
    const int64_t r0 = rows * t / T, r1 = rows * (t + 1) / T;
    for (int64_t n = r0 / H; n * H < r1; n++) {
      const int64_t h0 = std::max<int64_t>(0, r0 - n * H), h1 = std::min<int64_t>(H, r1 - n * H);
      const int64_t off = n * H * W * C;
      if (h1 > h0) band(g, dy + off, y + off, x + off, w, dx ? dx + off : nullptr, pdw, pdb, h0, h1, ring);
    }
  }
  for (int64_t i = 0; i < 10 * C; i++) {
    float acc = 0.f;
    for (int t = 0; t < T; t++) acc += scratch[size_t(t) * size_t(per) + size_t(3 * W * C + i)];
    if (i < 9 * C) dw[i] = acc;
    else if (db) db[i - 9 * C] = acc;
  }
}

}  // namespace covidnet
