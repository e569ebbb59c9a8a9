// covidnet oneDNN addon: the hot TF.js kernels (convolutions, pooling, matmul, elementwise,
// reductions, Adam) on oneDNN 2.6 / OpenMP. All tensors are the cpu backend's Float32Arrays,
// used in place (activations NHWC, weights in TF.js layout described with explicit strides).
// Primitives are cached per shape; oneDNN picks the ISA at run time (no -march flags needed).
#include <napi.h>
#include <pthread.h>

#include <csignal>
#include <dnnl.hpp>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

using namespace dnnl;
using dt = memory::data_type;
using tag = memory::format_tag;
using dims = memory::dims;

// Data-pipeline kernels (image_ops.cc, used by src/data), registered at the end of Init.
void RegisterImageOps(Napi::Env env, Napi::Object exports);
#ifdef COVIDNET_JPEG
// JPEG to gray with libjpeg (jpeg_ops.cc); built only where jpeglib.h is installed.
void RegisterJpegOps(Napi::Env env, Napi::Object exports);
#endif

namespace {

engine &eng() {
  static engine e(engine::kind::cpu, 0);
  return e;
}
stream &strm() {
  static stream s(eng());
  return s;
}

float *f32(const Napi::Value &v) {
  if (v.IsNull() || v.IsUndefined()) return nullptr;
  auto a = v.As<Napi::Float32Array>();
  return a.Data();
}
size_t f32len(const Napi::Value &v) { return v.As<Napi::Float32Array>().ElementLength(); }

std::vector<int64_t> ints(const Napi::Value &v) {
  auto a = v.As<Napi::Int32Array>();
  std::vector<int64_t> out(a.ElementLength());
  for (size_t i = 0; i < out.size(); i++) out[i] = a[i];
  return out;
}

std::string keyOf(const char *kind, const std::vector<int64_t> &p) {
  std::string k(kind);
  for (auto v : p) {
    k += ',';
    k += std::to_string(v);
  }
  return k;
}

// Scratch buffers reused across calls (grow only): avoids page-faulting fresh memory each step.
struct Scratch {
  std::vector<float> buf;
  float *get(size_t n) {
    if (buf.size() < n) buf.resize(n);
    return buf.data();
  }
};

// Weight tensors are small: reorder them on one thread. Parallel regions for a few KB cost more
// than the copy, and far more when other processes share the cores.
struct OneThread {
  int saved;
  OneThread() : saved(omp_get_max_threads()) { omp_set_num_threads(1); }
  ~OneThread() { omp_set_num_threads(saved); }
};

// Small work runs on the calling thread alone. A parallel region costs microseconds on an idle
// machine but up to a scheduler slice per region when other processes share the cores (measured:
// a tiny siamese net trained 30x slower on 2 threads than on 1 under load). Primitives are
// cached per thread count, since oneDNN plans its work decomposition at creation.
constexpr double kSmallMacs = 4e6;        // multiply-adds
constexpr int64_t kParallelMin = 1 << 16;  // elements for memory-bound loops

struct MaybeOneThread {
  std::unique_ptr<OneThread> guard;
  explicit MaybeOneThread(double work, double threshold = kSmallMacs) {
    if (work < threshold && omp_get_max_threads() > 1) guard.reset(new OneThread());
  }
};

// ---------------------------------------------------------------- convolution
// p = [N,H,W,C, OH,OW,OC, KH,KW, sH,sW, pT,pL,pB,pR, dH,dW, depthMult(0 = dense conv), relu]
struct ConvShape {
  int64_t N, H, W, C, OH, OW, OC, KH, KW, sH, sW, pT, pL, pB, pR, dH, dW, mult, relu;
  explicit ConvShape(const std::vector<int64_t> &p) {
    if (p.size() != 19) throw std::runtime_error("conv: expected 19 shape parameters");
    N = p[0]; H = p[1]; W = p[2]; C = p[3]; OH = p[4]; OW = p[5]; OC = p[6]; KH = p[7]; KW = p[8];
    sH = p[9]; sW = p[10]; pT = p[11]; pL = p[12]; pB = p[13]; pR = p[14]; dH = p[15]; dW = p[16];
    mult = p[17]; relu = p[18];
  }
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

// A 1×1, stride-1, unpadded dense conv on NHWC is a GEMM with the TF.js weights [C, OC] as they
// are: no weight reorders at all, and the backward passes are plain (transposed) GEMMs.
bool isPointwise(const ConvShape &s) {
  return !s.mult && s.KH == 1 && s.KW == 1 && s.sH == 1 && s.sW == 1 && s.pT == 0 && s.pL == 0 && s.pB == 0 &&
         s.pR == 0 && s.OH == s.H && s.OW == s.W;
}

void sgemm(char ta, char tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B, int64_t ldb,
           float beta, float *C, int64_t ldc) {
  if (dnnl_sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc) != dnnl_success)
    throw std::runtime_error("dnnl_sgemm failed");
}

// Row ranges for a fixed number of chunks per thread count: [begin, end) of chunk t of T.
inline void chunk(int64_t rows, int t, int T, int64_t &b, int64_t &e) {
  int64_t per = (rows + T - 1) / T;
  b = std::min(rows, per * t);
  e = std::min(rows, b + per);
}

void pointwiseForward(const ConvShape &s, const float *x, const float *w, const float *b, float *y) {
  const int64_t M = s.N * s.H * s.W, C = s.C, OC = s.OC;
  if (!b && !s.relu) {
    sgemm('N', 'N', M, OC, C, x, C, w, OC, 0.f, y, OC);
    return;
  }
  // Row blocks, one sequential GEMM each, with bias + ReLU applied while the block is in cache.
  const int T = omp_get_max_threads();
  const int64_t rowsPerBlock = std::max<int64_t>(8, std::min<int64_t>(std::max<int64_t>(8, 65536 / std::max<int64_t>(OC, 1)), (M + T - 1) / T));
  const int64_t blocks = (M + rowsPerBlock - 1) / rowsPerBlock;
  const bool relu = s.relu;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t bi = 0; bi < blocks; bi++) {
    const int64_t r0 = bi * rowsPerBlock, r1 = std::min(M, r0 + rowsPerBlock);
    sgemm('N', 'N', r1 - r0, OC, C, x + r0 * C, C, w, OC, 0.f, y + r0 * OC, OC);
    for (int64_t r = r0; r < r1; r++) {
      float *row = y + r * OC;
#pragma omp simd
      for (int64_t j = 0; j < OC; j++) {
        float v = row[j] + (b ? b[j] : 0.f);
        row[j] = relu && v < 0.f ? 0.f : v;
      }
    }
  }
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
            float v = yb[r * OC + j] > 0.f ? dyb[r * OC + j] : 0.f;
            gb[r * OC + j] = v;
            pb[j] += v;
          }
        }
        g = gb;
      }
      sgemm('T', 'N', C, OC, n, x + b0 * C, C, g, OC, first ? 0.f : 1.f, pw, OC);
      first = false;
      if (dx) sgemm('N', 'T', n, C, OC, g, OC, w, OC, 0.f, dx + b0 * C, C);
    }
    if (first) for (int64_t i = 0; i < C * OC; i++) pw[i] = 0.f;
  }
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
  float *P = colScratch.get(size_t(M * KK));
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

// Weights from the user's TF.js layout into the primitive's preferred format (cached buffer).
memory weightsFor(const memory::desc &want, const ConvShape &s, float *w, std::unique_ptr<memory> &slot) {
  memory user(s.wuser(), eng(), w);
  if (want == s.wuser()) return user;
  if (!slot) slot.reset(new memory(want, eng()));
  OneThread one;
  reorder(user, *slot).execute(strm(), user, *slot);
  strm().wait();
  return *slot;
}

// convForward(x, w, bias|null, y, params)
Napi::Value ConvForward(const Napi::CallbackInfo &info) {
  auto p = ints(info[4]);
  ConvShape s(p);
  MaybeOneThread small(s.macs());
  float *x = f32(info[0]), *w = f32(info[1]), *b = f32(info[2]), *y = f32(info[3]);
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
  auto p = ints(info[3]);
  ConvShape s(p);
  MaybeOneThread small(s.macs());
  if (isPointwise(s)) {
    pointwiseBackwardData(s, f32(info[0]), f32(info[1]), f32(info[2]));
    return info.Env().Undefined();
  }
  auto &e = convEntry(s, p);
  runBackwardData(e, s, f32(info[0]), f32(info[1]), f32(info[2]));
  strm().wait();
  return info.Env().Undefined();
}

// convBackwardWeights(x, dy, dw, db|null, params)
Napi::Value ConvBackwardWeights(const Napi::CallbackInfo &info) {
  auto p = ints(info[4]);
  ConvShape s(p);
  MaybeOneThread small(s.macs());
  if (isPointwise(s) && !f32(info[3])) {
    pointwiseBackward(s, f32(info[0]), f32(info[1]), nullptr, nullptr, nullptr, f32(info[2]), nullptr);
    return info.Env().Undefined();
  }
  auto &e = convEntry(s, p);
  runBackwardWeights(e, s, f32(info[0]), f32(info[1]), f32(info[2]), f32(info[3]));
  strm().wait();
  return info.Env().Undefined();
}

// convBiasReluBackward(dy, y, x, w, dx|null, dw, db, params): the gradient of relu(conv(x, w) + b)
// in one call: ReLU mask applied once, bias gradient reduced by the weights pass.
Napi::Value ConvBiasReluBackward(const Napi::CallbackInfo &info) {
  auto p = ints(info[7]);
  ConvShape s(p);
  MaybeOneThread small(s.macs());
  float *dy = f32(info[0]), *y = f32(info[1]), *x = f32(info[2]), *w = f32(info[3]);
  float *dx = f32(info[4]), *dw = f32(info[5]), *db = f32(info[6]);
  if (isPointwise(s)) {
    pointwiseBackward(s, x, dy, y, w, dx, dw, db);
    return info.Env().Undefined();
  }
  const int64_t n = s.N * s.OH * s.OW * s.OC;
  float *g = maskScratch.get(n);
  auto &e = convEntry(s, p);
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; i++) g[i] = y[i] > 0.f ? dy[i] : 0.f;
  runBackwardWeights(e, s, x, g, dw, db);
  if (dx) runBackwardData(e, s, g, w, dx);
  strm().wait();
  return info.Env().Undefined();
}

// ---------------------------------------------------------------- max pooling
// p = [N,H,W,C, OH,OW, KH,KW, sH,sW, pT,pL,pB,pR]
struct PoolEntry {
  pooling_forward::primitive_desc train, infer;
  std::unique_ptr<pooling_forward> trainP, inferP;
  std::unique_ptr<pooling_backward::primitive_desc> bwdPd;
  std::unique_ptr<pooling_backward> bwd;
  memory::desc src, dst;
};
std::unordered_map<std::string, std::unique_ptr<PoolEntry>> poolCache;

PoolEntry &poolEntry(const std::vector<int64_t> &p) {
  if (p.size() != 14) throw std::runtime_error("maxPool: expected 14 shape parameters");
  auto key = keyOf("pool", p) + ",t" + std::to_string(omp_get_max_threads());
  auto it = poolCache.find(key);
  if (it != poolCache.end()) return *it->second;
  memory::desc src({p[0], p[3], p[1], p[2]}, dt::f32, tag::nhwc), dst({p[0], p[3], p[4], p[5]}, dt::f32, tag::nhwc);
  dims k{p[6], p[7]}, st{p[8], p[9]}, pl{p[10], p[11]}, pr{p[12], p[13]};
  auto dT = pooling_forward::desc(prop_kind::forward_training, algorithm::pooling_max, src, dst, st, k, pl, pr);
  auto dI = pooling_forward::desc(prop_kind::forward_inference, algorithm::pooling_max, src, dst, st, k, pl, pr);
  auto e = std::unique_ptr<PoolEntry>(new PoolEntry{pooling_forward::primitive_desc(dT, eng()),
                                                    pooling_forward::primitive_desc(dI, eng())});
  e->src = src;
  e->dst = dst;
  e->trainP.reset(new pooling_forward(e->train));
  e->inferP.reset(new pooling_forward(e->infer));
  auto bd = pooling_backward::desc(algorithm::pooling_max, src, dst, st, k, pl, pr);
  e->bwdPd.reset(new pooling_backward::primitive_desc(bd, eng(), e->train));
  e->bwd.reset(new pooling_backward(*e->bwdPd));
  auto &ref = *e;
  poolCache.emplace(key, std::move(e));
  return ref;
}

// maxPoolForward(x, y, params, training) -> workspace ArrayBuffer (training) or undefined
double poolWork(const std::vector<int64_t> &p) { return double(p[0]) * p[1] * p[2] * p[3]; }

Napi::Value MaxPoolForward(const Napi::CallbackInfo &info) {
  auto pp = ints(info[2]);
  MaybeOneThread small(poolWork(pp), double(kParallelMin));
  auto &e = poolEntry(pp);
  bool training = info[3].ToBoolean();
  memory src(e.src, eng(), f32(info[0])), dst(e.dst, eng(), f32(info[1]));
  if (!training) {
    e.inferP->execute(strm(), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
    strm().wait();
    return info.Env().Undefined();
  }
  auto wsd = e.train.workspace_desc();
  auto ab = Napi::ArrayBuffer::New(info.Env(), std::max<size_t>(wsd.get_size(), 1));
  memory ws(wsd, eng(), ab.Data());
  e.trainP->execute(strm(), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}, {DNNL_ARG_WORKSPACE, ws}});
  strm().wait();
  return ab;
}

// maxPoolBackward(dy, workspace, dx, params)
Napi::Value MaxPoolBackward(const Napi::CallbackInfo &info) {
  auto pp = ints(info[3]);
  MaybeOneThread small(poolWork(pp), double(kParallelMin));
  auto &e = poolEntry(pp);
  auto ab = info[1].As<Napi::ArrayBuffer>();
  memory dy(e.dst, eng(), f32(info[0])), dx(e.src, eng(), f32(info[2]));
  memory ws(e.train.workspace_desc(), eng(), ab.Data());
  e.bwd->execute(strm(), {{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_WORKSPACE, ws}, {DNNL_ARG_DIFF_SRC, dx}});
  strm().wait();
  return info.Env().Undefined();
}

// ---------------------------------------------------------------- matmul
// matmul(a, b, c, bias|null, [batchA, batchB, M, K, N, transA, transB, relu])
// Row-major C[M,N] = op(A) op(B) (+ bias[N]) (relu); batches broadcast when one side has 1.
Napi::Value MatMul(const Napi::CallbackInfo &info) {
  auto p = ints(info[4]);
  if (p.size() != 8) throw std::runtime_error("matmul: expected 8 parameters");
  const float *a = f32(info[0]), *b = f32(info[1]), *bias = f32(info[3]);
  float *c = f32(info[2]);
  int64_t bA = p[0], bB = p[1], M = p[2], K = p[3], N = p[4];
  bool tA = p[5], tB = p[6], relu = p[7];
  int64_t batch = std::max(bA, bB);
  MaybeOneThread small(double(batch) * M * N * K);
  for (int64_t i = 0; i < batch; i++) {
    const float *ai = a + (bA == 1 ? 0 : i) * M * K;
    const float *bi = b + (bB == 1 ? 0 : i) * K * N;
    float *ci = c + i * M * N;
    auto st = dnnl_sgemm(tA ? 'T' : 'N', tB ? 'T' : 'N', M, N, K, 1.0f, ai, tA ? M : K, bi, tB ? K : N, 0.0f, ci, N);
    if (st != dnnl_success) throw std::runtime_error("matmul: dnnl_sgemm failed");
  }
  if (bias || relu) {
    const int64_t rows = batch * M;
#pragma omp parallel for schedule(static) if (rows * N > 32768)
    for (int64_t r = 0; r < rows; r++) {
      float *row = c + r * N;
      for (int64_t j = 0; j < N; j++) {
        float v = row[j] + (bias ? bias[j] : 0.f);
        row[j] = relu && v < 0.f ? 0.f : v;
      }
    }
  }
  return info.Env().Undefined();
}

// ---------------------------------------------------------------- elementwise

// binary(op, a, b, out, mode): op 0 add, 1 sub, 2 mul, 3 div; mode 0 same shape, 1 b scalar,
// 2 a scalar, 3 b broadcast over the last axis (b.length = inner), 4 a broadcast over the last axis.
template <typename F>
void binaryLoop(F f, const float *a, const float *b, float *o, int64_t n, int mode, int64_t inner) {
  switch (mode) {
    case 0:
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
      for (int64_t i = 0; i < n; i++) o[i] = f(a[i], b[i]);
      break;
    case 1: {
      const float bv = b[0];
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
      for (int64_t i = 0; i < n; i++) o[i] = f(a[i], bv);
      break;
    }
    case 2: {
      const float av = a[0];
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
      for (int64_t i = 0; i < n; i++) o[i] = f(av, b[i]);
      break;
    }
    case 3: {
      const int64_t rows = n / inner;
#pragma omp parallel for schedule(static) if (n > kParallelMin)
      for (int64_t r = 0; r < rows; r++)
#pragma omp simd
        for (int64_t j = 0; j < inner; j++) o[r * inner + j] = f(a[r * inner + j], b[j]);
      break;
    }
    case 4: {
      const int64_t rows = n / inner;
#pragma omp parallel for schedule(static) if (n > kParallelMin)
      for (int64_t r = 0; r < rows; r++)
#pragma omp simd
        for (int64_t j = 0; j < inner; j++) o[r * inner + j] = f(a[j], b[r * inner + j]);
      break;
    }
  }
}

Napi::Value Binary(const Napi::CallbackInfo &info) {
  int op = info[0].As<Napi::Number>().Int32Value();
  const float *a = f32(info[1]), *b = f32(info[2]);
  float *o = f32(info[3]);
  int mode = info[4].As<Napi::Number>().Int32Value();
  int64_t inner = info[5].As<Napi::Number>().Int64Value();
  int64_t n = f32len(info[3]);
  switch (op) {
    case 0: binaryLoop([](float x, float y) { return x + y; }, a, b, o, n, mode, inner); break;
    case 1: binaryLoop([](float x, float y) { return x - y; }, a, b, o, n, mode, inner); break;
    case 2: binaryLoop([](float x, float y) { return x * y; }, a, b, o, n, mode, inner); break;
    case 3: binaryLoop([](float x, float y) { return x / y; }, a, b, o, n, mode, inner); break;
    default: throw std::runtime_error("binary: unknown op");
  }
  return info.Env().Undefined();
}

// unary(op, x, out, alpha): 0 relu, 1 step(alpha for x <= 0... TF.js: x > 0 ? 1 : alpha), 2 square, 3 neg
Napi::Value Unary(const Napi::CallbackInfo &info) {
  int op = info[0].As<Napi::Number>().Int32Value();
  const float *x = f32(info[1]);
  float *o = f32(info[2]);
  float alpha = info[3].As<Napi::Number>().FloatValue();
  int64_t n = f32len(info[2]);
  switch (op) {
    case 0:
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
      for (int64_t i = 0; i < n; i++) o[i] = x[i] < 0.f ? 0.f : x[i];  // NaN propagates like TF.js
      break;
    case 1:
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
      for (int64_t i = 0; i < n; i++) o[i] = std::isnan(x[i]) ? NAN : (x[i] > 0.f ? 1.f : alpha);
      break;
    case 2:
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
      for (int64_t i = 0; i < n; i++) o[i] = x[i] * x[i];
      break;
    case 3:
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
      for (int64_t i = 0; i < n; i++) o[i] = -x[i];
      break;
    default: throw std::runtime_error("unary: unknown op");
  }
  return info.Env().Undefined();
}

// addN([arrays], out)
Napi::Value AddN(const Napi::CallbackInfo &info) {
  auto list = info[0].As<Napi::Array>();
  float *o = f32(info[1]);
  int64_t n = f32len(info[1]);
  std::vector<const float *> in(list.Length());
  for (uint32_t i = 0; i < list.Length(); i++) in[i] = f32(list.Get(i));
  const size_t k = in.size();
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; i++) {
    float s = in[0][i];
    for (size_t j = 1; j < k; j++) s += in[j][i];
    o[i] = s;
  }
  return info.Env().Undefined();
}

// sumOuter(x, out, rows, cols): out[c] = sum_r x[r*cols + c] (reduce the leading axes).
// sumInner(x, out, rows, cols): out[r] = sum_c x[r*cols + c] (reduce the trailing axes).
// Accumulates in double per lane so the result does not depend on the thread count.
Napi::Value SumOuter(const Napi::CallbackInfo &info) {
  const float *x = f32(info[0]);
  float *o = f32(info[1]);
  int64_t rows = info[2].As<Napi::Number>().Int64Value(), cols = info[3].As<Napi::Number>().Int64Value();
  // Split the rows into fixed blocks (independent of threads), reduce each, then add blocks in order.
  const int64_t block = 256;
  const int64_t nb = (rows + block - 1) / block;
  std::vector<double> part(nb * cols, 0.0);
#pragma omp parallel for schedule(static) if (rows * cols > kParallelMin)
  for (int64_t bi = 0; bi < nb; bi++) {
    double *acc = part.data() + bi * cols;
    int64_t r1 = std::min(rows, (bi + 1) * block);
    for (int64_t r = bi * block; r < r1; r++) {
      const float *row = x + r * cols;
#pragma omp simd
      for (int64_t c = 0; c < cols; c++) acc[c] += row[c];
    }
  }
  for (int64_t c = 0; c < cols; c++) {
    double s = 0;
    for (int64_t bi = 0; bi < nb; bi++) s += part[bi * cols + c];
    o[c] = float(s);
  }
  return info.Env().Undefined();
}

Napi::Value SumInner(const Napi::CallbackInfo &info) {
  const float *x = f32(info[0]);
  float *o = f32(info[1]);
  int64_t rows = info[2].As<Napi::Number>().Int64Value(), cols = info[3].As<Napi::Number>().Int64Value();
#pragma omp parallel for schedule(static) if (rows * cols > kParallelMin)
  for (int64_t r = 0; r < rows; r++) {
    double s = 0;
    const float *row = x + r * cols;
    for (int64_t c = 0; c < cols; c++) s += row[c];
    o[r] = float(s);
  }
  return info.Env().Undefined();
}

// adam(param, grad, m, v, [lr, beta1, beta2, eps, 1 - beta1^t, 1 - beta2^t]): in place, TF.js's formula.
Napi::Value Adam(const Napi::CallbackInfo &info) {
  float *w = f32(info[0]), *m = f32(info[2]), *v = f32(info[3]);
  const float *g = f32(info[1]);
  auto h = info[4].As<Napi::Float64Array>();
  const float lr = h[0], b1 = h[1], b2 = h[2], eps = h[3], c1 = h[4], c2 = h[5];
  int64_t n = f32len(info[0]);
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; i++) {
    float mi = m[i] * b1 + g[i] * (1.f - b1);
    float vi = v[i] * b2 + (g[i] * g[i]) * (1.f - b2);
    m[i] = mi;
    v[i] = vi;
    w[i] += (mi / c1) / (std::sqrt(vi / c2) + eps) * -lr;
  }
  return info.Env().Undefined();
}

Napi::Value SetThreads(const Napi::CallbackInfo &info) {
  int n = info[0].As<Napi::Number>().Int32Value();
  if (n > 0) omp_set_num_threads(n);
  return Napi::Number::New(info.Env(), omp_get_max_threads());
}

Napi::Value GetThreads(const Napi::CallbackInfo &info) {
  return Napi::Number::New(info.Env(), omp_get_max_threads());
}

Napi::Value Version(const Napi::CallbackInfo &info) {
  auto v = dnnl_version();
  return Napi::String::New(info.Env(), std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
                                           std::to_string(v->patch) + (v->cpu_runtime == DNNL_RUNTIME_OMP ? " (OpenMP)" : ""));
}

// Drop cached primitives and scratch (tests; frees memory after a run with many shapes).
Napi::Value ClearCache(const Napi::CallbackInfo &info) {
  convCache.clear();
  poolCache.clear();
  maskScratch.buf = std::vector<float>();
  partScratch.buf = std::vector<float>();
  colScratch.buf = std::vector<float>();
  return info.Env().Undefined();
}

// Profiling signals (SIGPROF: `node --cpu-prof`, `--prof`) held back while a kernel runs. With
// them delivered inside oneDNN's JIT GEMM the process died of heap corruption ("corrupted size vs.
// prev_size", reproducible with a 256x512x256 matmul loop under --cpu-prof; no invalid access under
// valgrind or ASAN, which change signal timing): the JIT code is not safe against a signal handler
// running on its stack. The sample is taken when the kernel returns; the cost is two
// pthread_sigmask calls per kernel (well under a microsecond).
class HoldProfilingSignals {
 public:
  HoldProfilingSignals() {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGPROF);
    pthread_sigmask(SIG_BLOCK, &s, &old_);
  }
  ~HoldProfilingSignals() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  HoldProfilingSignals(const HoldProfilingSignals &) = delete;
  HoldProfilingSignals &operator=(const HoldProfilingSignals &) = delete;

 private:
  sigset_t old_;
};

template <Napi::Value (*F)(const Napi::CallbackInfo &)>
Napi::Value Guard(const Napi::CallbackInfo &info) {
  HoldProfilingSignals hold;
  try {
    return F(info);
  } catch (const dnnl::error &e) {
    throw Napi::Error::New(info.Env(), std::string("oneDNN: ") + e.what());
  } catch (const std::exception &e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("convForward", Napi::Function::New<Guard<ConvForward>>(env));
  exports.Set("convBackwardData", Napi::Function::New<Guard<ConvBackwardData>>(env));
  exports.Set("convBackwardWeights", Napi::Function::New<Guard<ConvBackwardWeights>>(env));
  exports.Set("convBiasReluBackward", Napi::Function::New<Guard<ConvBiasReluBackward>>(env));
  exports.Set("maxPoolForward", Napi::Function::New<Guard<MaxPoolForward>>(env));
  exports.Set("maxPoolBackward", Napi::Function::New<Guard<MaxPoolBackward>>(env));
  exports.Set("matmul", Napi::Function::New<Guard<MatMul>>(env));
  exports.Set("binary", Napi::Function::New<Guard<Binary>>(env));
  exports.Set("unary", Napi::Function::New<Guard<Unary>>(env));
  exports.Set("addN", Napi::Function::New<Guard<AddN>>(env));
  exports.Set("sumOuter", Napi::Function::New<Guard<SumOuter>>(env));
  exports.Set("sumInner", Napi::Function::New<Guard<SumInner>>(env));
  exports.Set("adam", Napi::Function::New<Guard<Adam>>(env));
  exports.Set("setThreads", Napi::Function::New<Guard<SetThreads>>(env));
  exports.Set("getThreads", Napi::Function::New<Guard<GetThreads>>(env));
  exports.Set("version", Napi::Function::New<Guard<Version>>(env));
  exports.Set("clearCache", Napi::Function::New<Guard<ClearCache>>(env));
  RegisterImageOps(env, exports);
#ifdef COVIDNET_JPEG
  RegisterJpegOps(env, exports);
#endif
  return exports;
}

}  // namespace

NODE_API_MODULE(covidnet_onednn, Init)
