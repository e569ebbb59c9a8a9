// A whole PEPX module (1×1 projection → 1×1 expansion → 3×3 depthwise → 1×1 projection → 1×1
// extension, each with bias and optional ReLU) on one image's rows, in row tiles: the module reads
// its input once and writes its output once, and the four intermediate maps never leave the cache.
//
// Why: run op by op, every intermediate map is written to memory and read back (at 224² the first
// stage's maps are 1.6–4.8 MB per image, past the 1.25 MiB L2), and the depthwise conv (oneDNN's,
// on one image) ran at 13 GFLOP/s. Here, per tile of g output rows: the expansion's rows the tile's
// 3×3 window needs are computed (projection → expansion on the input rows, pointwise.cc's kernel)
// into a band buffer, once each, just before they are read; then the depthwise rows, the second
// projection and the extension, tile-sized buffers all. Summation order differs from TF.js's only
// by rounding (the plan's tests hold it to 1e-5).
#include "kernels.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>

namespace covidnet {
namespace {

// rows·W ≥ this many pixels per tile: the pointwise kernel's row blocks (6–12) stay full on the
// 7- and 14-wide late stages
constexpr int64_t kTilePixels = 48;

// rows of a tile: ≥ kTilePixels pixels, even when a 2×2 pool follows (a tile pools into whole rows)
// (weights: the floats of the convs' kernels. Past 64 Ki (256 KB) they no longer stay in L2 beside
// the tiles and every tile would fetch them again: the whole image is one tile.)
int64_t tileRowsFor(int64_t H, int64_t W, bool pool, int64_t weights) {
  int64_t g = weights > 65536 ? H : std::max<int64_t>(1, std::min<int64_t>(H, (kTilePixels + W - 1) / W));
  if (pool) g += g % 2;
  return g;
}
int64_t tileRows(const PepxShape &s) {
  return tileRowsFor(s.H, s.W, s.pool, s.Cin * s.Ca + s.Ca * s.Cb + s.Cb * s.Cc + s.Cc * s.Cout);
}

// 2×2 / 2 max pooling ('valid': an odd last row or column is dropped) of a tile of `rows` full
// rows (W × C each) into rows / 2 output rows (W/2 × C each)
__attribute__((target("avx512f"))) void poolPairs(const float *t, int64_t rows, int64_t W, int64_t C, float *out) {
  const int64_t Wo = W / 2;
  for (int64_t r = 0; r + 1 < rows; r += 2) {
    const float *a = t + r * W * C, *b = a + W * C;
    float *o = out + (r / 2) * Wo * C;
    for (int64_t x = 0; x < Wo; x++) {
      for (int64_t c0 = 0; c0 < C; c0 += 16) {
        const __mmask16 m = __mmask16((1u << std::min<int64_t>(16, C - c0)) - 1);
        const int64_t i0 = 2 * x * C + c0, i1 = i0 + C;
        const __m512 v = _mm512_max_ps(_mm512_max_ps(_mm512_maskz_loadu_ps(m, a + i0), _mm512_maskz_loadu_ps(m, a + i1)),
                                       _mm512_max_ps(_mm512_maskz_loadu_ps(m, b + i0), _mm512_maskz_loadu_ps(m, b + i1)));
        _mm512_mask_storeu_ps(o + x * C + c0, m, v);
      }
    }
  }
}

// out rows [r0, r1) of a 3×3, stride-1, zero-padded depthwise conv (+ bias, ReLU) whose input rows
// [band0, …) are in `in` (row-major W×C each). w: TF.js [3, 3, C, 1].
__attribute__((target("avx512f"))) void depthwiseRows(const PepxShape &s, const float *in, int64_t band0, int64_t r0, int64_t r1,
                                                      const float *w, const float *b, float *out) {
  const int64_t W = s.W, C = s.Cb, H = s.H;
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t c0 = 0; c0 < C; c0 += 16) {
    const int64_t cn = std::min<int64_t>(16, C - c0);
    const __mmask16 m = __mmask16((1u << cn) - 1);
    __m512 wv[9];
    for (int k = 0; k < 9; k++) wv[k] = _mm512_maskz_loadu_ps(m, w + k * C + c0);
    const __m512 bv = b ? _mm512_maskz_loadu_ps(m, b + c0) : zero;
    for (int64_t r = r0; r < r1; r++) {
      float *o = out + (r - r0) * W * C + c0;
      const float *rows[3];
      for (int d = 0; d < 3; d++) {
        const int64_t rr = r + d - 1;
        rows[d] = rr >= 0 && rr < H ? in + (rr - band0) * W * C + c0 : nullptr;
      }
      // a window of three columns per input row slides along x: one load per row per pixel
      __m512 win[3][3];
      for (int d = 0; d < 3; d++) {
        win[d][0] = zero;
        win[d][1] = rows[d] ? _mm512_maskz_loadu_ps(m, rows[d]) : zero;
      }
      for (int64_t x = 0; x < W; x++) {
        __m512 acc = bv;
        for (int d = 0; d < 3; d++) {
          win[d][2] = rows[d] && x + 1 < W ? _mm512_maskz_loadu_ps(m, rows[d] + (x + 1) * C) : zero;
          acc = _mm512_fmadd_ps(win[d][0], wv[d * 3 + 0], acc);
          acc = _mm512_fmadd_ps(win[d][1], wv[d * 3 + 1], acc);
          acc = _mm512_fmadd_ps(win[d][2], wv[d * 3 + 2], acc);
          win[d][0] = win[d][1];
          win[d][1] = win[d][2];
        }
        if (s.reluD) acc = _mm512_max_ps(acc, zero);
        _mm512_mask_storeu_ps(o + x * C, m, acc);
      }
    }
  }
}

}  // namespace

size_t pepxScratchFloats(const PepxShape &s) {
  const int64_t g = tileRows(s);
  return size_t((s.H + 2) * s.W * s.Cb + (g + 2) * s.W * s.Ca + g * s.W * (s.Cb + s.Cc + (s.pool ? s.Cout : 0)));
}

int64_t pepxRowsOut(const PepxShape &s) { return s.pool ? 2 * (s.H / 2) : s.H; }

double pepxMacsPerImage(const PepxShape &s) {
  return double(s.H) * s.W * (s.Cin * s.Ca + s.Ca * s.Cb + 9 * s.Cb + s.Cb * s.Cc + s.Cc * s.Cout);
}

void pepxRows(const PepxShape &s, const PepxWeights &w, const float *x, float *y, const float *add, int64_t h0, int64_t h1,
              float *scratch) noexcept {
  const int64_t W = s.W, H = s.H, g = tileRows(s);
  const int64_t band0 = std::max<int64_t>(0, h0 - 1), band1 = std::min(H, h1 + 1);
  float *bandB = scratch;                            // expansion rows [band0, band1)
  float *tileA = bandB + (H + 2) * W * s.Cb;         // projection rows of one step (≤ g + 2 rows)
  float *tileD = tileA + (g + 2) * W * s.Ca;         // depthwise rows of a tile
  float *tileC = tileD + g * W * s.Cb;               // second projection rows of a tile
  float *tileE = tileC + g * W * s.Cc;               // extension rows of a tile, when pooled after
  int64_t bDone = band0;                             // expansion rows computed so far: [band0, bDone)
  for (int64_t r0 = h0; r0 < h1; r0 += g) {
    const int64_t r1 = std::min(h1, r0 + g);
    const int64_t need = std::min(band1, r1 + 1);
    if (need > bDone) {
      const int64_t M = (need - bDone) * W;
      pointwiseKernel(M, s.Cin, s.Ca, x + bDone * W * s.Cin, w.a, w.ba, tileA, s.reluA);
      pointwiseKernel(M, s.Ca, s.Cb, tileA, w.b, w.bb, bandB + (bDone - band0) * W * s.Cb, s.reluB);
      bDone = need;
    }
    depthwiseRows(s, bandB, band0, r0, r1, w.d, w.bd, tileD);
    const int64_t M = (r1 - r0) * W;
    pointwiseKernel(M, s.Cb, s.Cc, tileD, w.c, w.bc, tileC, s.reluC);
    if (s.pool) {
      pointwiseKernel(M, s.Cc, s.Cout, tileC, w.e, w.be, tileE, s.reluE);
      poolPairs(tileE, r1 - r0, W, s.Cout, y + (r0 / 2) * (W / 2) * s.Cout);
    } else {
      pointwiseKernel(M, s.Cc, s.Cout, tileC, w.e, w.be, y + r0 * W * s.Cout, s.reluE, add ? add + r0 * W * s.Cout : nullptr);
    }
  }
}

bool pepxWholeImages(const PepxShape &s) { return tileRows(s) >= s.H; }

size_t pepxImagesScratchFloats(const PepxShape &s, int64_t n) {
  // [projection, then second projection] [expansion, then extension when pooled] [depthwise]
  const int64_t M = n * s.H * s.W;
  return size_t(M * (std::max(s.Ca, s.Cc) + std::max(s.Cb, s.pool ? s.Cout : 0) + s.Cb));
}

void pepxImages(const PepxShape &s, const PepxWeights &w, const float *x, float *y, const float *add, int64_t n, float *scratch) noexcept {
  const int64_t HW = s.H * s.W, M = n * HW;
  float *ac = scratch, *be = ac + M * std::max(s.Ca, s.Cc), *d = be + M * std::max(s.Cb, s.pool ? s.Cout : 0);
  pointwiseKernel(M, s.Cin, s.Ca, x, w.a, w.ba, ac, s.reluA);
  pointwiseKernel(M, s.Ca, s.Cb, ac, w.b, w.bb, be, s.reluB);
  for (int64_t j = 0; j < n; j++) depthwiseRows(s, be + j * HW * s.Cb, 0, 0, s.H, w.d, w.bd, d + j * HW * s.Cb);
  pointwiseKernel(M, s.Cb, s.Cc, d, w.c, w.bc, ac, s.reluC);
  if (s.pool) {
    pointwiseKernel(M, s.Cc, s.Cout, ac, w.e, w.be, be, s.reluE);
    for (int64_t j = 0; j < n; j++) poolPairs(be + j * HW * s.Cout, s.H, s.W, s.Cout, y + j * (s.H / 2) * (s.W / 2) * s.Cout);
  } else {
    pointwiseKernel(M, s.Cc, s.Cout, ac, w.e, w.be, y, s.reluE, add);
  }
}

size_t pointwisePoolScratchFloats(int64_t H, int64_t W, int64_t K, int64_t N) { return size_t(tileRowsFor(H, W, true, K * N) * W * N); }

void pointwisePoolRows(int64_t H, int64_t W, int64_t K, int64_t N, const float *x, const float *w, const float *b, bool relu, float *y,
                       int64_t h0, int64_t h1, float *scratch) noexcept {
  const int64_t g = tileRowsFor(H, W, true, K * N);
  for (int64_t r0 = h0; r0 < h1; r0 += g) {
    const int64_t r1 = std::min(h1, r0 + g);
    pointwiseKernel((r1 - r0) * W, K, N, x + r0 * W * K, w, b, scratch, relu);
    poolPairs(scratch, r1 - r0, W, N, y + (r0 / 2) * (W / 2) * N);
  }
}

}  // namespace covidnet
