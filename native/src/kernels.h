// The plan's own kernels (pointwise.cc, pepx.cc): plain C++ on raw arrays, no Node-API, no
// allocation, no exceptions, so that they can run inside OpenMP regions and be benchmarked alone.
// Callers (plan.cc, conv.cc) validate shapes at the boundary first (common.h).
#pragma once

#include <cstddef>
#include <cstdint>

namespace covidnet {

// Work below this many multiply-adds runs on the calling thread (common.h's MaybeOneThread).
constexpr double kSmallMacs = 4e6;

// The AVX-512 pointwise (1×1 conv) kernel of pointwise.cc: y[M,N] = act(x[M,K] · w[K,N] + b), b may
// be null. Available only where the CPU has AVX-512F. pointwiseKernel runs on the calling thread (safe inside OpenMP regions);
// pointwiseKernelParallel splits the rows over the threads (outside regions).
bool pointwiseKernelAvailable() noexcept;
// add (may be null): a map like y's, added after the activation (a skip sum absorbed by the conv).
void pointwiseKernel(int64_t M, int64_t K, int64_t N, const float *x, const float *w, const float *b, float *y, bool relu,
                     const float *add = nullptr) noexcept;
void pointwiseKernelParallel(int64_t M, int64_t K, int64_t N, const float *x, const float *w, const float *b, float *y, bool relu,
                             const float *add = nullptr) noexcept;

// A fused PEPX module on one image (pepx.cc): input H×W×Cin → 1×1 → Ca → 1×1 → Cb → 3×3 depthwise
// (stride 1, zero pad 1) → 1×1 → Cc → 1×1 → Cout, each with bias (null: none) and ReLU when asked.
// pepxRows writes output rows [h0, h1) (reading the input rows they need) with a scratch of
// pepxScratchFloats floats; no allocation, no threads, never throws (safe inside OpenMP regions).
// Needs AVX-512F (pointwiseKernelAvailable).
struct PepxShape {
  int64_t H, W, Cin, Ca, Cb, Cc, Cout;
  bool reluA, reluB, reluD, reluC, reluE;
  // a 2×2 / 2 max pool ('valid') follows: y is the pooled map (H/2 × W/2 × Cout), rows [h0, h1)
  // are full-resolution rows, even, within pepxRowsOut; add must be null
  bool pool;
};
struct PepxWeights {
  const float *a, *ba, *b, *bb, *d, *bd, *c, *bc, *e, *be;
};
size_t pepxScratchFloats(const PepxShape &s);
int64_t pepxRowsOut(const PepxShape &s);  // full-resolution rows that make output: H, or 2·⌊H/2⌋ when pooled
double pepxMacsPerImage(const PepxShape &s);
// add (may be null): a map like y's added to the output (a skip sum absorbed by the module).
void pepxRows(const PepxShape &s, const PepxWeights &w, const float *x, float *y, const float *add, int64_t h0, int64_t h1,
              float *scratch) noexcept;

// The same module on n whole images at once (pepxWholeImages(s): one tile holds a whole image):
// the 1×1 convs run on the n images' pixels as one product, so large weights are fetched once per
// n images, not once per image (COVID-Net's last stage at 224²: 49 pixels per image against 7 MB of
// weights). x, y, add: n images one after another. scratch: pepxImagesScratchFloats(s, n) floats.
bool pepxWholeImages(const PepxShape &s);
size_t pepxImagesScratchFloats(const PepxShape &s, int64_t n);
void pepxImages(const PepxShape &s, const PepxWeights &w, const float *x, float *y, const float *add, int64_t n, float *scratch) noexcept;

// A pointwise conv followed by a 2×2 / 2 max pool (COVID-Net's upper-layer convs): full-resolution
// rows [h0, h1) (even) of x (H × W × K) → pooled rows of y (H/2 × W/2 × N), tile by tile, so the
// unpooled map is never stored.
size_t pointwisePoolScratchFloats(int64_t H, int64_t W, int64_t K, int64_t N);
void pointwisePoolRows(int64_t H, int64_t W, int64_t K, int64_t N, const float *x, const float *w, const float *b, bool relu, float *y,
                       int64_t h0, int64_t h1, float *scratch) noexcept;

// A dense layer on few rows with large weights (dense.cc): y[M, N] = act(x[M, K] · w[K, N] + b),
// streaming w once in row order on the threads (outside OpenMP regions; allocates the threads'
// partial sums, so it may throw std::bad_alloc). denseStreamFits: the row counts it is meant for.
bool denseStreamFits(int64_t M) noexcept;
void denseStream(int64_t M, int64_t K, int64_t N, const float *x, const float *w, const float *b, float *y, bool relu);

// The training gradient of relu(depthwise 3×3 conv(x, w) + b), stride 1, zero pad 1, multiplier 1
// (depthwise.cc): from dy and the forward's output y (the ReLU mask), dx (may be null), dw
// [3, 3, C] and db [C] (may be null), all overwritten. scratch: depthwise3x3BackwardScratchFloats
// floats for `threads` threads. Opens its own OpenMP region (outside regions); never throws.
// Needs AVX-512F (pointwiseKernelAvailable).
// The shape both depthwise kernels cover (pepx.cc's forward inside a module, this gradient):
// kernel KH×KW, strides, pads top/left/bottom/right, depth multiplier.
inline bool depthwise3x3Same(int64_t KH, int64_t KW, int64_t sH, int64_t sW, int64_t pT, int64_t pL, int64_t pB, int64_t pR, int64_t mult) noexcept {
  return mult == 1 && KH == 3 && KW == 3 && sH == 1 && sW == 1 && pT == 1 && pL == 1 && pB == 1 && pR == 1;
}
size_t depthwise3x3BackwardScratchFloats(int64_t W, int64_t C, int threads) noexcept;
void depthwise3x3Backward(int64_t N, int64_t H, int64_t W, int64_t C, const float *dy, const float *y, const float *x, const float *w,
                          float *dx, float *dw, float *db, float *scratch, int threads) noexcept;

}  // namespace covidnet
