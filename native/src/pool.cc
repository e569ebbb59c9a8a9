// Max pooling (NHWC) on oneDNN: forward for inference or training (then with the argmax
// workspace handed to JS as an ArrayBuffer) and backward from that workspace. The workspace
// carries a tag of the shape it was made for, checked with its size by the backward pass.
#include "common.h"

#include <functional>
#include <unordered_map>

namespace covidnet {
namespace {

using namespace dnnl;

// p = [N,H,W,C, OH,OW, KH,KW, sH,sW, pT,pL,pB,pR]
constexpr size_t kPoolParams = 14;

struct PoolShape {
  int64_t xCount, yCount;
  double work;
};

PoolShape poolShape(const Args &a, const std::vector<int64_t> &p) {
  const int64_t N = a.dim(p, 0, "N", 1), H = a.dim(p, 1, "H", 1), W = a.dim(p, 2, "W", 1), C = a.dim(p, 3, "C", 1);
  const int64_t OH = a.dim(p, 4, "OH", 1), OW = a.dim(p, 5, "OW", 1);
  const int64_t KH = a.dim(p, 6, "KH", 1), KW = a.dim(p, 7, "KW", 1);
  const int64_t sH = a.dim(p, 8, "strideH", 1), sW = a.dim(p, 9, "strideW", 1);
  const int64_t pT = a.dim(p, 10, "padTop", 0), pL = a.dim(p, 11, "padLeft", 0);
  const int64_t pB = a.dim(p, 12, "padBottom", 0), pR = a.dim(p, 13, "padRight", 0);
  const int64_t spanH = H + pT + pB, spanW = W + pL + pR;
  COVIDNET_CHECK(a, KH <= spanH, "params[6] (KH)", "at most H + pads = " + std::to_string(spanH), std::to_string(KH));
  COVIDNET_CHECK(a, KW <= spanW, "params[7] (KW)", "at most W + pads = " + std::to_string(spanW), std::to_string(KW));
  COVIDNET_CHECK(a, OH == (spanH - KH) / sH + 1, "params[4] (OH)", std::to_string((spanH - KH) / sH + 1) + " (from H, KH, strides, pads)",
          std::to_string(OH));
  COVIDNET_CHECK(a, OW == (spanW - KW) / sW + 1, "params[5] (OW)", std::to_string((spanW - KW) / sW + 1) + " (from W, KW, strides, pads)",
          std::to_string(OW));
  PoolShape s;
  s.xCount = a.product("input N·H·W·C", {N, H, W, C});
  s.yCount = a.product("output N·OH·OW·C", {N, OH, OW, C});
  s.work = double(N) * H * W * C;
  return s;
}

struct PoolEntry {
  pooling_forward::primitive_desc train, infer;
  std::unique_ptr<pooling_forward> trainP, inferP;
  std::unique_ptr<pooling_backward::primitive_desc> bwdPd;
  std::unique_ptr<pooling_backward> bwd;
  memory::desc src, dst;
  uint64_t tag = 0;       // identifies the shape in the workspace's trailer
  size_t wsBody = 0;      // workspace bytes, rounded up to 8; the tag follows
};
std::unordered_map<std::string, std::unique_ptr<PoolEntry>> poolCache;

PoolEntry &poolEntry(const std::vector<int64_t> &p) {
  const auto shapeKey = keyOf("pool", p);
  auto key = shapeKey + ",t" + std::to_string(omp_get_max_threads());
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
  e->tag = uint64_t(std::hash<std::string>{}(shapeKey)) ^ 0x636f7669646e6574ull;  // "covidnet"
  e->wsBody = (std::max<size_t>(e->train.workspace_desc().get_size(), 1) + 7) / 8 * 8;
  auto &ref = *e;
  poolCache.emplace(key, std::move(e));
  return ref;
}

// maxPoolForward(x, y, params, training) -> workspace ArrayBuffer (training) or undefined
Napi::Value MaxPoolForward(const Napi::CallbackInfo &info) {
  Args a(info, "maxPoolForward");
  auto pp = a.params(2, "params", kPoolParams);
  const PoolShape s = poolShape(a, pp);
  float *x = a.f32(0, "x", s.xCount), *y = a.f32(1, "y", s.yCount);
  const bool training = a.boolean(3, "training");
  MaybeOneThread small(s.work, double(kParallelMin));
  auto &e = poolEntry(pp);
  memory src(e.src, eng(), x), dst(e.dst, eng(), y);
  if (!training) {
    e.inferP->execute(strm(), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
    strm().wait();
    return info.Env().Undefined();
  }
  auto wsd = e.train.workspace_desc();
  auto ab = Napi::ArrayBuffer::New(info.Env(), e.wsBody + sizeof(uint64_t));
  std::memcpy(static_cast<uint8_t *>(ab.Data()) + e.wsBody, &e.tag, sizeof(uint64_t));
  memory ws(wsd, eng(), ab.Data());
  e.trainP->execute(strm(), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}, {DNNL_ARG_WORKSPACE, ws}});
  strm().wait();
  return ab;
}

// maxPoolBackward(dy, workspace, dx, params)
Napi::Value MaxPoolBackward(const Napi::CallbackInfo &info) {
  Args a(info, "maxPoolBackward");
  auto pp = a.params(3, "params", kPoolParams);
  const PoolShape s = poolShape(a, pp);
  float *dyp = a.f32(0, "dy", s.yCount), *dxp = a.f32(2, "dx", s.xCount);
  auto ab = a.arrayBuffer(1, "workspace");
  MaybeOneThread small(s.work, double(kParallelMin));
  auto &e = poolEntry(pp);
  const size_t want = e.wsBody + sizeof(uint64_t);
  uint64_t tagv = 0;
  if (ab.ByteLength() == want) std::memcpy(&tagv, static_cast<uint8_t *>(ab.Data()) + e.wsBody, sizeof(uint64_t));
  if (ab.ByteLength() != want || tagv != e.tag) {
    a.fail(false, "workspace", "the ArrayBuffer of " + std::to_string(want) + " bytes that maxPoolForward returned for these params",
           ab.ByteLength() == want ? "a workspace of another shape" : describe(info[1]));
  }
  memory dy(e.dst, eng(), dyp), dx(e.src, eng(), dxp);
  memory ws(e.train.workspace_desc(), eng(), ab.Data());
  e.bwd->execute(strm(), {{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_WORKSPACE, ws}, {DNNL_ARG_DIFF_SRC, dx}});
  strm().wait();
  return info.Env().Undefined();
}

}  // namespace

void ClearPoolCache() { poolCache.clear(); }

void RegisterPool(Napi::Env env, Napi::Object exports) {
  Export<MaxPoolForward>(env, exports, "maxPoolForward");
  Export<MaxPoolBackward>(env, exports, "maxPoolBackward");
}

}  // namespace covidnet
