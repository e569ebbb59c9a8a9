// Convolutions (dense and depthwise, NHWC, TF.js weight layouts described with explicit strides):
// forward with optional bias and ReLU post-op, backward data, backward weights (+ bias), and the
// training-time fused gradient of relu(conv(x, w) + b). Pointwise (1×1) convs run as GEMMs on the
// TF.js weights as they are; the input gradient of a few-channel conv (the stem) is a GEMM plus a
// gather. Primitives are cached per shape and thread count.
#include "common.h"

#include <unordered_map>

namespace covidnet {
namespace {

using namespace dnnl;

// p = [N,H,W,C, OH,OW,OC, KH,KW, sH,sW, pT,pL,pB,pR, dH,dW, depthMult(0 = dense conv), relu]
constexpr size_t kConvParams = 19;

struct ConvShape {
  int64_t N, H, W, C, OH, OW, OC, KH, KW, sH, sW, pT, pL, pB, pR, dH, dW, mult, relu;
  int64_t xCount, yCount, wCount;  // elements of x / dx, y / dy, w / dw
  double macs() const { return double(N) * OH * OW * OC * KH * KW * (mult ? 1 : C); }
  memory::desc src() const { return memory::desc({N, C, H, W}, dt::f32, tag::nhwc); }
  memory::desc dst() const { return memory::desc({N, OC, OH, OW}, dt::f32, tag::nhwc); }
  dims wdims() const {
    return mult ? dims{C, mult, 1, KH, KW} : dims{OC, C, KH, KW};
  }
  // TF.js layout: dense [KH,KW,C,OC]; depthwise [KH,KW,C,mult].
  memory::desc wuser() const {
    if (mult) return memory::desc(wdims(), dt::f32, dims{mult, 1, 1, KW * C * mult, C * mult});
    return memory::desc(wdims(), dt::f32, dims{1, OC, KW * C * OC, C * OC});
  }
  memory::desc wany() const { return memory::desc(wdims(), dt::f32, tag::any); }
  memory::desc bias() const { return memory::desc({OC}, dt::f32, tag::x); }
  dims strides() const { return {sH, sW}; }
  dims dil() const { return {dH - 1, dW - 1}; }
  dims padl() const { return {pT, pL}; }
  dims padr() const { return {pB, pR}; }
};

// Every parameter in range and consistent (the output size is the one oneDNN computes from the
// input, kernel, strides, dilations and pads), and the element counts of every tensor.
ConvShape convShape(const Args &a, const std::vector<int64_t> &p) {
  ConvShape s;
  s.N = a.dim(p, 0, "N", 1);
  s.H = a.dim(p, 1, "H", 1);
  s.W = a.dim(p, 2, "W", 1);
  s.C = a.dim(p, 3, "C", 1);
  s.OH = a.dim(p, 4, "OH", 1);
  s.OW = a.dim(p, 5, "OW", 1);
  s.OC = a.dim(p, 6, "OC", 1);
  s.KH = a.dim(p, 7, "KH", 1);
  s.KW = a.dim(p, 8, "KW", 1);
  s.sH = a.dim(p, 9, "strideH", 1);
  s.sW = a.dim(p, 10, "strideW", 1);
  s.pT = a.dim(p, 11, "padTop", 0);
  s.pL = a.dim(p, 12, "padLeft", 0);
  s.pB = a.dim(p, 13, "padBottom", 0);
  s.pR = a.dim(p, 14, "padRight", 0);
  s.dH = a.dim(p, 15, "dilationH", 1);
  s.dW = a.dim(p, 16, "dilationW", 1);
  s.mult = a.dim(p, 17, "depthMultiplier", 0);
  s.relu = a.dim(p, 18, "relu", 0, 1);
  if (s.mult) {
    COVIDNET_CHECK(a, s.OC == s.C * s.mult, "params[6] (OC)", "C × depthMultiplier = " + std::to_string(s.C * s.mult),
            std::to_string(s.OC));
  }
  const int64_t effH = (s.KH - 1) * s.dH + 1, effW = (s.KW - 1) * s.dW + 1;
  const int64_t spanH = s.H + s.pT + s.pB, spanW = s.W + s.pL + s.pR;
  COVIDNET_CHECK(a, spanH >= effH, "params[7] (KH)", "a dilated kernel height of at most H + pads = " + std::to_string(spanH),
          std::to_string(effH));
  COVIDNET_CHECK(a, spanW >= effW, "params[8] (KW)", "a dilated kernel width of at most W + pads = " + std::to_string(spanW),
          std::to_string(effW));
  COVIDNET_CHECK(a, s.OH == (spanH - effH) / s.sH + 1, "params[4] (OH)", std::to_string((spanH - effH) / s.sH + 1) + " (from H, KH, strides, pads, dilations)",
          std::to_string(s.OH));
  COVIDNET_CHECK(a, s.OW == (spanW - effW) / s.sW + 1, "params[5] (OW)", std::to_string((spanW - effW) / s.sW + 1) + " (from W, KW, strides, pads, dilations)",
          std::to_string(s.OW));
  s.xCount = a.product("input N·H·W·C", {s.N, s.H, s.W, s.C});
  s.yCount = a.product("output N·OH·OW·OC", {s.N, s.OH, s.OW, s.OC});
  s.wCount = a.product("weights KH·KW·C·(OC or depthMultiplier)", {s.KH, s.KW, s.C, s.mult ? s.mult : s.OC});
  a.product("work N·OH·OW·OC·KH·KW·C", {s.N, s.OH, s.OW, s.OC, s.KH, s.KW, s.mult ? 1 : s.C});
  return s;
}

// A 1×1, stride-1, unpadded dense conv on NHWC is a GEMM with the TF.js weights [C, OC] as they
// are: no weight reorders at all, and the backward passes are plain (transposed) GEMMs.
bool isPointwise(const ConvShape &s) {
  return !s.mult && s.KH == 1 && s.KW == 1 && s.sH == 1 && s.sW == 1 && s.pT == 0 && s.pL == 0 && s.pB == 0 &&
         s.pR == 0 && s.OH == s.H && s.OW == s.W;
}

// Row ranges for a fixed number of chunks per thread count: [begin, end) of chunk t of T.
inline void chunk(int64_t rows, int t, int T, int64_t &b, int64_t &e) {
  int64_t per = (rows + T - 1) / T;
  b = std::min(rows, per * t);
  e = std::min(rows, b + per);
}

void pointwiseForward(const ConvShape &s, const float *x, const float *w, const float *b, float *y) {
  const int64_t M = s.N * s.H * s.W, C = s.C, OC = s.OC;
  if (pointwiseKernelAvailable()) {
    // the plan's register-blocked kernel (pointwise.cc), bias and ReLU in its epilogue: 10% faster
    // than sgemm + a bias/ReLU pass over COVID-Net's 1×1 convs at 112² batch 16 (21.5 → 19.5 ms)
    pointwiseKernelParallel(M, C, OC, x, w, b, y, s.relu);
    return;
  }
  if (!b && !s.relu) {
    sgemm('N', 'N', M, OC, C, x, C, w, OC, 0.f, y, OC);
    return;
  }
  // Row blocks, one sequential GEMM each, with bias + ReLU applied while the block is in cache.
  const int T = omp_get_max_threads();
  const int64_t rowsPerBlock = std::max<int64_t>(8, std::min<int64_t>(std::max<int64_t>(8, 65536 / std::max<int64_t>(OC, 1)), (M + T - 1) / T));
  const int64_t blocks = (M + rowsPerBlock - 1) / rowsPerBlock;
  const bool relu = s.relu;
  RegionStatus st;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t bi = 0; bi < blocks; bi++) {
    const int64_t r0 = bi * rowsPerBlock, r1 = std::min(M, r0 + rowsPerBlock);
    sgemmIn(st, 'N', 'N', r1 - r0, OC, C, x + r0 * C, C, w, OC, 0.f, y + r0 * OC, OC);
    biasReluRows(y, r0, r1, OC, b, relu);
  }
  st.check("pointwise convolution: dnnl_sgemm failed");
}

Scratch partScratch;

// Backward of a pointwise conv. Each thread walks its rows in cache-sized blocks: the masked
// gradient block g (dy where y > 0, when y is given) is formed, reduced into db, used for its dW
// contribution (Xᵀg, accumulated) and for dx = g Wᵀ while it is still in cache: dy, y and x are
// read once and dx written once, g never goes to memory. Per-thread partials are added in a
// fixed order, so results do not depend on scheduling.
void pointwiseBackward(const ConvShape &s, const float *x, const float *dy, const float *y, const float *w, float *dx,
                       float *dw, float *db) {
  const int64_t M = s.N * s.H * s.W, C = s.C, OC = s.OC;
  const int T = std::max(1, std::min<int>(omp_get_max_threads(), int(M / 64) + 1));
  const int64_t B = std::max<int64_t>(16, std::min<int64_t>(1024, 65536 / (OC + C)));
  const size_t stride = size_t(C * OC + OC + B * OC);
  float *part = partScratch.get(size_t(T) * stride);
  RegionStatus st;
#pragma omp parallel num_threads(T)
  {
    const int t = omp_get_thread_num();
    int64_t r0, r1;
    chunk(M, t, T, r0, r1);
    float *pw = part + size_t(t) * stride, *pb = pw + C * OC, *gb = pb + OC;
    for (int64_t j = 0; j < OC; j++) pb[j] = 0.f;
    bool first = true;
    for (int64_t b0 = r0; b0 < r1; b0 += B) {
      const int64_t n = std::min(B, r1 - b0);
      const float *g = dy + b0 * OC;
      if (y) {
        const float *dyb = dy + b0 * OC, *yb = y + b0 * OC;
        for (int64_t r = 0; r < n; r++) {
#pragma omp simd
          for (int64_t j = 0; j < OC; j++) {
            // both loaded unconditionally: a select, not a branch (ReLU masks are unpredictable)
            const float d = dyb[r * OC + j];
            float v = yb[r * OC + j] > 0.f ? d : 0.f;
            gb[r * OC + j] = v;
            pb[j] += v;
          }
        }
        g = gb;
      }
      sgemmIn(st, 'T', 'N', C, OC, n, x + b0 * C, C, g, OC, first ? 0.f : 1.f, pw, OC);
      first = false;
      if (dx) sgemmIn(st, 'N', 'T', n, C, OC, g, OC, w, OC, 0.f, dx + b0 * C, C);
    }
    if (first) for (int64_t i = 0; i < C * OC; i++) pw[i] = 0.f;
  }
  st.check("pointwise convolution backward: dnnl_sgemm failed");
  const int64_t nw = C * OC;
#pragma omp parallel for simd schedule(static) if (nw > (1 << 15))
  for (int64_t i = 0; i < nw; i++) {
    float acc = part[i];
    for (int t = 1; t < T; t++) acc += part[size_t(t) * stride + i];
    dw[i] = acc;
  }
  if (db && y) {
    for (int64_t j = 0; j < OC; j++) {
      float acc = 0.f;
      for (int t = 0; t < T; t++) acc += part[size_t(t) * stride + nw + j];
      db[j] = acc;
    }
  }
}

void pointwiseBackwardData(const ConvShape &s, const float *g, const float *w, float *dx) {
  const int64_t M = s.N * s.H * s.W, C = s.C, OC = s.OC;
  sgemm('N', 'T', M, C, OC, g, OC, w, OC, 0.f, dx, C);
}

// Input gradient of a dense conv with few input channels (the 7×7 stem on a gray image): oneDNN's
// kernels are slow for C = 1. P = G · Wᵀ (W in TF.js layout is [KH·KW·C, OC]), then each input
// pixel gathers the P entries of the outputs it fed (conflict-free, parallel over pixels).
bool fewChannels(const ConvShape &s) { return !s.mult && s.C <= 4; }

Scratch colScratch;

void fewChannelsBackwardData(const ConvShape &s, const float *g, const float *w, float *dx) {
  const int64_t M = s.N * s.OH * s.OW, KK = s.KH * s.KW * s.C;
  const __int128 cols = __int128(M) * KK;
  float *P = colScratch.get(cols > __int128(kMaxScratch) ? kMaxScratch + 1 : size_t(cols));
  sgemm('N', 'T', M, KK, s.OC, g, s.OC, w, s.OC, 0.f, P, KK);
  // Scatter-add per image (images in parallel; no modulo in the inner loops).
  const int64_t C = s.C;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t n = 0; n < s.N; n++) {
    float *dxn = dx + n * s.H * s.W * C;
    std::memset(dxn, 0, sizeof(float) * size_t(s.H * s.W * C));
    for (int64_t oh = 0; oh < s.OH; oh++) {
      for (int64_t ow = 0; ow < s.OW; ow++) {
        const float *src = P + ((n * s.OH + oh) * s.OW + ow) * KK;
        for (int64_t kh = 0; kh < s.KH; kh++) {
          const int64_t ih = oh * s.sH - s.pT + kh * s.dH;
          if (ih < 0 || ih >= s.H) continue;
          float *row = dxn + ih * s.W * C;
          const float *srow = src + kh * s.KW * C;
          for (int64_t kw = 0; kw < s.KW; kw++) {
            const int64_t iw = ow * s.sW - s.pL + kw * s.dW;
            if (iw < 0 || iw >= s.W) continue;
            for (int64_t c = 0; c < C; c++) row[iw * C + c] += srow[kw * C + c];
          }
        }
      }
    }
  }
}

struct ConvEntry {
  convolution_forward::primitive_desc fwdPd;  // with bias (+relu when asked)
  convolution_forward::primitive_desc fwdPdNoBias;
  std::unique_ptr<convolution_forward> fwd, fwdNoBias;
  std::unique_ptr<convolution_backward_data::primitive_desc> bdPd;
  std::unique_ptr<convolution_backward_data> bd;
  std::unique_ptr<convolution_backward_weights::primitive_desc> bwPd, bwPdNoBias;
  std::unique_ptr<convolution_backward_weights> bw, bwNoBias;
  std::unique_ptr<memory> wFwd, wBd, dwTmp;  // reordered weights / diff weights
};

std::unordered_map<std::string, std::unique_ptr<ConvEntry>> convCache;
Scratch maskScratch;

ConvEntry &convEntry(const ConvShape &s, const std::vector<int64_t> &p) {
  auto key = keyOf("conv", p) + ",t" + std::to_string(omp_get_max_threads());
  auto it = convCache.find(key);
  if (it != convCache.end()) return *it->second;
  primitive_attr attr;
  if (s.relu) {
    post_ops po;
    po.append_eltwise(1.0f, algorithm::eltwise_relu, 0.0f, 0.0f);
    attr.set_post_ops(po);
  }
  auto d = convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct, s.src(),
                                     s.wany(), s.bias(), s.dst(), s.strides(), s.dil(), s.padl(), s.padr());
  auto dNb = convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct, s.src(),
                                       s.wany(), s.dst(), s.strides(), s.dil(), s.padl(), s.padr());
  auto e = std::unique_ptr<ConvEntry>(new ConvEntry{convolution_forward::primitive_desc(d, attr, eng()),
                                                    convolution_forward::primitive_desc(dNb, attr, eng())});
  e->fwd.reset(new convolution_forward(e->fwdPd));
  e->fwdNoBias.reset(new convolution_forward(e->fwdPdNoBias));
  auto &ref = *e;
  convCache.emplace(key, std::move(e));
  return ref;
}

// Weights from the user's TF.js layout into the primitive's preferred format. The cached buffer
// is (re)made for the layout asked for: the bias and no-bias primitives may want different ones.
memory weightsFor(const memory::desc &want, const ConvShape &s, float *w, std::unique_ptr<memory> &slot) {
  memory user(s.wuser(), eng(), w);
  if (want == s.wuser()) return user;
  if (!slot || slot->get_desc() != want) slot.reset(new memory(want, eng()));
  OneThread one;
  reorder(user, *slot).execute(strm(), user, *slot);
  strm().wait();
  return *slot;
}

// convForward(x, w, bias|null, y, params)
Napi::Value ConvForward(const Napi::CallbackInfo &info) {
  Args a(info, "convForward");
  auto p = a.params(4, "params", kConvParams);
  const ConvShape s = convShape(a, p);
  float *x = a.f32(0, "x", s.xCount), *w = a.f32(1, "w", s.wCount), *b = a.f32OrNull(2, "bias", s.OC);
  float *y = a.f32(3, "y", s.yCount);
  MaybeOneThread small(s.macs());
  if (isPointwise(s)) {
    pointwiseForward(s, x, w, b, y);
    return info.Env().Undefined();
  }
  auto &e = convEntry(s, p);
  auto &pd = b ? e.fwdPd : e.fwdPdNoBias;
  memory src(s.src(), eng(), x), dst(s.dst(), eng(), y);
  memory wm = weightsFor(pd.weights_desc(), s, w, e.wFwd);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, dst}};
  if (b) args.emplace(DNNL_ARG_BIAS, memory(s.bias(), eng(), b));
  (b ? *e.fwd : *e.fwdNoBias).execute(strm(), args);
  strm().wait();
  return info.Env().Undefined();
}

void ensureBackwardData(ConvEntry &e, const ConvShape &s) {
  if (e.bd) return;
  auto d = convolution_backward_data::desc(algorithm::convolution_direct, s.src(), s.wany(), s.dst(), s.strides(),
                                           s.dil(), s.padl(), s.padr());
  e.bdPd.reset(new convolution_backward_data::primitive_desc(d, eng(), e.fwdPd));
  e.bd.reset(new convolution_backward_data(*e.bdPd));
}

void ensureBackwardWeights(ConvEntry &e, const ConvShape &s, bool withBias) {
  if (withBias ? bool(e.bw) : bool(e.bwNoBias)) return;
  if (withBias) {
    auto d = convolution_backward_weights::desc(algorithm::convolution_direct, s.src(), s.wany(), s.bias(), s.dst(),
                                                s.strides(), s.dil(), s.padl(), s.padr());
    e.bwPd.reset(new convolution_backward_weights::primitive_desc(d, eng(), e.fwdPd));
    e.bw.reset(new convolution_backward_weights(*e.bwPd));
  } else {
    auto d = convolution_backward_weights::desc(algorithm::convolution_direct, s.src(), s.wany(), s.dst(),
                                                s.strides(), s.dil(), s.padl(), s.padr());
    e.bwPdNoBias.reset(new convolution_backward_weights::primitive_desc(d, eng(), e.fwdPdNoBias));
    e.bwNoBias.reset(new convolution_backward_weights(*e.bwPdNoBias));
  }
}

void runBackwardData(ConvEntry &e, const ConvShape &s, float *dyp, float *w, float *dx) {
  if (fewChannels(s)) {
    fewChannelsBackwardData(s, dyp, w, dx);
    return;
  }
  ensureBackwardData(e, s);
  memory dy(s.dst(), eng(), dyp), dsrc(s.src(), eng(), dx);
  memory wm = weightsFor(e.bdPd->weights_desc(), s, w, e.wBd);
  e.bd->execute(strm(), {{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DIFF_SRC, dsrc}});
}

void runBackwardWeights(ConvEntry &e, const ConvShape &s, float *xp, float *dyp, float *dw, float *db) {
  ensureBackwardWeights(e, s, db != nullptr);
  auto &pd = db ? *e.bwPd : *e.bwPdNoBias;
  memory src(s.src(), eng(), xp), dy(s.dst(), eng(), dyp), user(s.wuser(), eng(), dw);
  bool direct = pd.diff_weights_desc() == s.wuser();
  if (!direct && (!e.dwTmp || e.dwTmp->get_desc() != pd.diff_weights_desc()))
    e.dwTmp.reset(new memory(pd.diff_weights_desc(), eng()));
  memory dwm = direct ? user : *e.dwTmp;
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_DIFF_WEIGHTS, dwm}};
  if (db) args.emplace(DNNL_ARG_DIFF_BIAS, memory(s.bias(), eng(), db));
  (db ? *e.bw : *e.bwNoBias).execute(strm(), args);
  if (!direct) {
    strm().wait();
    OneThread one;
    reorder(dwm, user).execute(strm(), dwm, user);
    strm().wait();
  }
}

// convBackwardData(dy, w, dx, params)
Napi::Value ConvBackwardData(const Napi::CallbackInfo &info) {
  Args a(info, "convBackwardData");
  auto p = a.params(3, "params", kConvParams);
  const ConvShape s = convShape(a, p);
  float *dy = a.f32(0, "dy", s.yCount), *w = a.f32(1, "w", s.wCount), *dx = a.f32(2, "dx", s.xCount);
  MaybeOneThread small(s.macs());
  if (isPointwise(s)) {
    pointwiseBackwardData(s, dy, w, dx);
    return info.Env().Undefined();
  }
  auto &e = convEntry(s, p);
  runBackwardData(e, s, dy, w, dx);
  strm().wait();
  return info.Env().Undefined();
}

// convBackwardWeights(x, dy, dw, db|null, params)
Napi::Value ConvBackwardWeights(const Napi::CallbackInfo &info) {
  Args a(info, "convBackwardWeights");
  auto p = a.params(4, "params", kConvParams);
  const ConvShape s = convShape(a, p);
  float *x = a.f32(0, "x", s.xCount), *dy = a.f32(1, "dy", s.yCount), *dw = a.f32(2, "dw", s.wCount);
  float *db = a.f32OrNull(3, "db", s.OC);
  MaybeOneThread small(s.macs());
  if (isPointwise(s) && !db) {
    pointwiseBackward(s, x, dy, nullptr, nullptr, nullptr, dw, nullptr);
    return info.Env().Undefined();
  }
  auto &e = convEntry(s, p);
  runBackwardWeights(e, s, x, dy, dw, db);
  strm().wait();
  return info.Env().Undefined();
}

// COVID-Net's depthwise convs ('same' 3×3, no dilation): depthwise.cc's gradient
bool depthwise3x3(const ConvShape &s) {
  return depthwise3x3Same(s.KH, s.KW, s.sH, s.sW, s.pT, s.pL, s.pB, s.pR, s.mult) && s.dH == 1 && s.dW == 1;
}

// COVIDNET_DEPTHWISE_KERNEL=0: oneDNN's three passes instead of depthwise.cc (A/B runs, tests).
bool depthwiseKernelOn() {
  const char *f = std::getenv("COVIDNET_DEPTHWISE_KERNEL");
  return !(f && std::strcmp(f, "0") == 0);
}

Scratch dwScratch;

// convBiasReluBackward(dy, y, x, w, dx|null, dw, db, params): the gradient of relu(conv(x, w) + b)
// in one call: ReLU mask applied once, bias gradient reduced by the weights pass.
Napi::Value ConvBiasReluBackward(const Napi::CallbackInfo &info) {
  Args a(info, "convBiasReluBackward");
  auto p = a.params(7, "params", kConvParams);
  const ConvShape s = convShape(a, p);
  float *dy = a.f32(0, "dy", s.yCount), *y = a.f32(1, "y", s.yCount), *x = a.f32(2, "x", s.xCount);
  float *w = a.f32(3, "w", s.wCount), *dx = a.f32OrNull(4, "dx", s.xCount), *dw = a.f32(5, "dw", s.wCount);
  float *db = a.f32(6, "db", s.OC);
  MaybeOneThread small(s.macs());
  if (isPointwise(s)) {
    pointwiseBackward(s, x, dy, y, w, dx, dw, db);
    return info.Env().Undefined();
  }
  if (depthwise3x3(s) && pointwiseKernelAvailable() && depthwiseKernelOn()) {
    const int T = omp_get_max_threads();
    float *scratch = dwScratch.get(depthwise3x3BackwardScratchFloats(s.W, s.C, T));
    depthwise3x3Backward(s.N, s.H, s.W, s.C, dy, y, x, w, dx, dw, db, scratch, T);
    return info.Env().Undefined();
  }
  const int64_t n = s.N * s.OH * s.OW * s.OC;
  float *g = maskScratch.get(n);
  auto &e = convEntry(s, p);
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; i++) {
    const float d = dy[i];  // loaded unconditionally: a select, not a branch
    g[i] = y[i] > 0.f ? d : 0.f;
  }
  runBackwardWeights(e, s, x, g, dw, db);
  if (dx) runBackwardData(e, s, g, w, dx);
  strm().wait();
  return info.Env().Undefined();
}

}  // namespace

void ClearConvCache() {
  convCache.clear();
  maskScratch.buf = std::vector<float>();
  partScratch.buf = std::vector<float>();
  dwScratch.buf = std::vector<float>();
  colScratch.buf = std::vector<float>();
}

void RegisterConv(Napi::Env env, Napi::Object exports) {
  Export<ConvForward>(env, exports, "convForward");
  Export<ConvBackwardData>(env, exports, "convBackwardData");
  Export<ConvBackwardWeights>(env, exports, "convBackwardWeights");
  Export<ConvBiasReluBackward>(env, exports, "convBiasReluBackward");
}

}  // namespace covidnet
