// A compiled execution plan: a whole inference forward pass (COVID-Net's convolutions with fused
// bias + ReLU, max pooling, skip sums, dense layers, softmax, L2 normalisation) in one native call.
// Built once from a program (src/backend/plan.ts compiles a TF.js LayersModel into it) with planned
// buffers: every intermediate value lives in a slot that is reused once the value's last reader has
// run. oneDNN primitives and slot memory are made per (batch, threads) and kept for the next call.
//
// Weights are NOT copied: every run receives the model's current weight arrays (the TF.js variables'
// storage), so a plan can never answer with stale weights, whatever changed them (setWeights, the
// native in-place Adam). Only the few non-1×1 conv kernels (stem, depthwise) are reordered into
// oneDNN's preferred layout per run, which costs microseconds.
//
//   planCreate(program: Int32Array, values: Int32Array, outputs: Int32Array, numWeights) -> plan
//   planRun(plan, input: Float32Array, batch, weights: Float32Array[]) -> Float32Array[] (outputs)
//   planDispose(plan)                  frees the plan's memory now (GC would, later)
//   planInfo(plan) -> { ops, values, slots, floatsPerImage, runs, msByKind, disposed }
//
// program: kRecord int32 per op: [op, out, nIn, in0..in15, params...]. values: [h, w, c] per value
// (per image; value 0 is the input; dense values are 1×1×units). Every argument is validated at the
// boundary (common.h): a bad call throws a JS error with code E_NATIVE_ARG, never crashes.
#include "common.h"

#include <array>
#include <chrono>
#include <cstdlib>
#include <unordered_map>

namespace covidnet {
namespace {

using namespace dnnl;

enum OpCode : int64_t { kConv = 1, kPool = 2, kAdd = 3, kDense = 4, kSoftmax = 5, kL2Norm = 6, kAct = 7 };
enum Act : int64_t { kLinear = 0, kRelu = 1, kSigmoid = 2 };
// kinds of work for the time profile
enum Kind { kKindPointwise, kKindConv, kKindDepthwise, kKindPool, kKindAdd, kKindDense, kKindOther, kKinds };
const char *const kKindNames[kKinds] = {"conv1x1", "convKxK", "depthwise", "maxpool", "add", "dense", "other"};
constexpr int64_t kRecord = 32;
constexpr int64_t kMaxInputs = 16;
constexpr int64_t kParamsAt = 3 + kMaxInputs;  // params follow the inputs (13 of them)
constexpr int64_t kMaxBatch = 1 << 20;

struct Val {
  int64_t h, w, c;
  int64_t per() const { return h * w * c; }
};

struct Step {
  int64_t op, out;
  std::vector<int64_t> in;
  // conv: KH KW sH sW pT pL pB pR mult relu wIdx bIdx; pool: KH KW sH sW pT pL pB pR;
  // dense: act wIdx bIdx; act: act
  int64_t p[kRecord - kParamsAt];
};

// oneDNN objects of one (batch, threads) configuration. A primitive is made and run with the same
// thread count (oneDNN plans its work decomposition at creation): one thread for small work
// (common.h's MaybeOneThread) and for the per-image trunk, else all. Scratchpads are ours (one per
// thread), so that primitives can run on several threads at once.
struct ConvPrim {
  bool oneThread;
  convolution_forward::primitive_desc pd;
  convolution_forward prim;
  memory::desc wUser;
  std::unique_ptr<reorder> wReorder;  // TF.js layout → the primitive's, when they differ
  std::unique_ptr<memory> wMem;
};
// A 1×1 stride-1 convolution as a oneDNN matmul: [M = images·H·W, K = C] × the TF.js kernel
// [K, N = OC] as it is (row major, no reorder), bias and ReLU fused. oneDNN 2.6's brgemm matmul ran
// 1.1–1.35× the GFLOP/s of dnnl_sgemm + a separate bias/ReLU pass on COVID-Net's shapes with K ≥ 64
// (single thread, AVX-512); below that sgemm was as fast or faster, so those stay on gemmBiasAct.
struct MatmulPrim {
  bool oneThread;
  matmul::primitive_desc pd;
  matmul prim;
  memory::desc src, wts, bias, dst;
};
struct PoolPrim {
  bool oneThread;
  pooling_forward::primitive_desc pd;
  pooling_forward prim;
};
struct Config {
  int64_t batch = 0;
  int threads = 0;
  // Image-parallel trunk: each thread runs the whole trunk (the ops before the first dense layer)
  // for its images, one at a time, with single-threaded primitives: no barrier per op, and one
  // image's activations stay in that core's cache. Otherwise every op runs on the whole batch with
  // all threads (small batches: one image at a time on one core would be slower).
  bool imagePar = false;
  uint64_t lastUse = 0;
  std::vector<std::vector<std::vector<float>>> trunkSlots;  // [thread][slot]: one image (image-parallel) or the batch
  std::vector<std::vector<float>> batchSlots;
  std::vector<std::unique_ptr<ConvPrim>> conv;  // per step (null: not a oneDNN conv)
  std::vector<std::unique_ptr<MatmulPrim>> mm;  // per step (null: not a pointwise conv run as a matmul)
  std::vector<std::unique_ptr<PoolPrim>> pool;
  std::vector<std::unique_ptr<stream>> streams;  // per thread
  std::vector<std::vector<char>> scratch;        // per thread
  size_t scratchBytes = 0;
};

struct Plan {
  std::vector<Val> vals;
  std::vector<Step> steps;
  std::vector<int64_t> outputs;
  std::vector<int64_t> weightLen;  // expected elements per weight
  size_t trunkEnd = 0;             // steps [0, trunkEnd) are the trunk: before the first dense layer
  // Values that need the whole batch's storage: made by the head, read by the head, or outputs.
  // The others (trunk values) live in per-thread slots of one image in the image-parallel mode.
  std::vector<bool> batchVal;
  std::vector<int64_t> slotOf;     // value → its slot in trunkSlots or batchSlots (-1: input or an output)
  std::vector<int64_t> slotPerT;   // trunk slot → floats per image
  std::vector<int64_t> slotPerB;   // batch slot → floats per image
  std::vector<bool> isOutput;
  std::vector<std::unique_ptr<Config>> configs;  // at most kConfigs, least recently used evicted
  uint64_t clock = 0;
  // where the time goes (planInfo): seconds per kind of op over all runs; a clock read per op
  double seconds[kKinds] = {};
  uint64_t runs = 0;
};
constexpr size_t kConfigs = 2;

struct Holder {
  std::unique_ptr<Plan> plan;
};

// Tags the External so that planRun never takes another addon's (or a forged) external for a plan.
const napi_type_tag kPlanTag = {0x636f7669646e6574ull, 0x706c616e2d763031ull};  // "covidnet" "plan-v01"

bool isPointwise(const Step &s, const Val &in, const Val &out) {
  const int64_t *p = s.p;
  return p[8] == 0 && p[0] == 1 && p[1] == 1 && p[2] == 1 && p[3] == 1 && p[4] == 0 && p[5] == 0 && p[6] == 0 &&
         p[7] == 0 && in.h == out.h && in.w == out.w;
}

// ------------------------------------------------------------------------- create (validation)

Napi::Value PlanCreate(const Napi::CallbackInfo &info) {
  Args a(info, "planCreate");
  const auto prog = a.i32Any(0, "program");
  const auto vraw = a.i32Any(1, "values");
  const auto outs = a.i32Any(2, "outputs");
  const int64_t numWeights = a.integer(3, "numWeights", 0, 1 << 16);
  const auto len = [](size_t n) { return std::to_string(n) + " elements"; };
  COVIDNET_CHECK(a, !prog.empty() && prog.size() % kRecord == 0, "program", "an Int32Array of n × " + std::to_string(kRecord) + " elements (n ≥ 1)", len(prog.size()));
  COVIDNET_CHECK(a, !vraw.empty() && vraw.size() % 3 == 0, "values", "an Int32Array of 3 elements (h, w, c) per value", len(vraw.size()));
  COVIDNET_CHECK(a, !outs.empty(), "outputs", "at least one value", "none");
  auto plan = std::make_unique<Plan>();
  const int64_t nv = int64_t(vraw.size() / 3);
  for (int64_t v = 0; v < nv; v++) {
    Val x{vraw[3 * v], vraw[3 * v + 1], vraw[3 * v + 2]};
    const std::string name = "values[" + std::to_string(v) + "]";
    COVIDNET_CHECK(a, x.h >= 1 && x.w >= 1 && x.c >= 1, name, "h, w, c ≥ 1", std::to_string(x.h) + "×" + std::to_string(x.w) + "×" + std::to_string(x.c));
    a.product("values h·w·c", {x.h, x.w, x.c, kMaxBatch});
    plan->vals.push_back(x);
  }
  std::vector<bool> defined(size_t(nv), false);
  defined[0] = true;
  plan->weightLen.assign(size_t(numWeights), -1);
  auto useWeight = [&](const std::string &where, int64_t idx, int64_t need, bool optional) {
    if (optional && idx == -1) return;
    COVIDNET_CHECK(a, idx >= 0 && idx < numWeights, where, "a weight index in [0, " + std::to_string(numWeights) + ")", std::to_string(idx));
    auto &w = plan->weightLen[size_t(idx)];
    COVIDNET_CHECK(a, w == -1 || w == need, where, "weight " + std::to_string(idx) + " used with one size (" + std::to_string(w) + ")", std::to_string(need));
    w = need;
  };
  const int64_t nsteps = int64_t(prog.size()) / kRecord;
  for (int64_t i = 0; i < nsteps; i++) {
    const int64_t *r = prog.data() + i * kRecord;
    const std::string at = "program[op " + std::to_string(i) + "]";
    Step s{};
    s.op = r[0];
    s.out = r[1];
    const int64_t nIn = r[2];
    COVIDNET_CHECK(a, s.op >= kConv && s.op <= kAct, at + ".op", "an op code in [1, 7]", std::to_string(s.op));
    COVIDNET_CHECK(a, s.out >= 1 && s.out < nv && !defined[size_t(s.out)], at + ".out", "a value in [1, " + std::to_string(nv) + ") not defined before", std::to_string(s.out));
    COVIDNET_CHECK(a, nIn >= 1 && nIn <= kMaxInputs && (s.op == kAdd || nIn == 1), at + ".inputs",
                   s.op == kAdd ? "1 to 16 inputs" : "1 input", std::to_string(nIn));
    for (int64_t k = 0; k < nIn; k++) {
      const int64_t v = r[3 + k];
      COVIDNET_CHECK(a, v >= 0 && v < nv && defined[size_t(v)], at + ".in[" + std::to_string(k) + "]", "a value defined by an earlier op (or 0, the input)", std::to_string(v));
      s.in.push_back(v);
    }
    for (int64_t k = 0; k < kRecord - kParamsAt; k++) s.p[k] = r[kParamsAt + k];
    const Val &in = plan->vals[size_t(s.in[0])], &out = plan->vals[size_t(s.out)];
    const auto shape = [](const Val &v) { return std::to_string(v.h) + "×" + std::to_string(v.w) + "×" + std::to_string(v.c); };
    if (s.op == kConv || s.op == kPool) {
      const int64_t *p = s.p;
      for (int k = 0; k < 8; k++) {
        COVIDNET_CHECK(a, p[k] >= (k < 4 ? 1 : 0) && p[k] <= (1 << 12), at + ".params[" + std::to_string(k) + "]", k < 4 ? "a kernel size or stride in [1, 4096]" : "a pad in [0, 4096]", std::to_string(p[k]));
      }
      const int64_t spanH = in.h + p[4] + p[6], spanW = in.w + p[5] + p[7];
      COVIDNET_CHECK(a, p[0] <= spanH && p[1] <= spanW, at + ".kernel", "at most the padded input " + std::to_string(spanH) + "×" + std::to_string(spanW),
                     std::to_string(p[0]) + "×" + std::to_string(p[1]));
      const int64_t oh = (spanH - p[0]) / p[2] + 1, ow = (spanW - p[1]) / p[3] + 1;
      COVIDNET_CHECK(a, out.h == oh && out.w == ow, at + ".out", "an output of " + std::to_string(oh) + "×" + std::to_string(ow) + " (from the input, kernel, strides, pads)", shape(out));
      if (s.op == kPool) {
        COVIDNET_CHECK(a, out.c == in.c, at + ".out", std::to_string(in.c) + " channels (as the input)", std::to_string(out.c));
      } else {
        const int64_t mult = p[8];
        COVIDNET_CHECK(a, mult >= 0 && mult <= 1 << 12, at + ".params[8] (depthMultiplier)", "0 (dense) or a multiplier in [1, 4096]", std::to_string(mult));
        COVIDNET_CHECK(a, p[9] == 0 || p[9] == 1, at + ".params[9] (relu)", "0 or 1", std::to_string(p[9]));
        if (mult) COVIDNET_CHECK(a, out.c == in.c * mult, at + ".out", std::to_string(in.c * mult) + " channels (C × depthMultiplier)", std::to_string(out.c));
        useWeight(at + ".params[10] (kernel)", p[10], a.product("kernel", {p[0], p[1], in.c, mult ? mult : out.c}), false);
        useWeight(at + ".params[11] (bias)", p[11], out.c, true);
      }
    } else if (s.op == kAdd) {
      for (int64_t v : s.in) {
        const Val &x = plan->vals[size_t(v)];
        COVIDNET_CHECK(a, x.h == out.h && x.w == out.w && x.c == out.c, at + ".in", "inputs of the output's shape " + shape(out), shape(x));
      }
    } else if (s.op == kDense) {
      COVIDNET_CHECK(a, out.h == 1 && out.w == 1, at + ".out", "1×1×units", shape(out));
      COVIDNET_CHECK(a, s.p[0] >= kLinear && s.p[0] <= kSigmoid, at + ".params[0] (activation)", "0 (linear), 1 (relu) or 2 (sigmoid)", std::to_string(s.p[0]));
      useWeight(at + ".params[1] (kernel)", s.p[1], a.product("kernel", {in.per(), out.c}), false);
      useWeight(at + ".params[2] (bias)", s.p[2], out.c, true);
    } else {
      COVIDNET_CHECK(a, out.per() == in.per(), at + ".out", std::to_string(in.per()) + " elements per image (as the input)", shape(out));
      if (s.op == kAct) COVIDNET_CHECK(a, s.p[0] >= kLinear && s.p[0] <= kSigmoid, at + ".params[0] (activation)", "0 (linear), 1 (relu) or 2 (sigmoid)", std::to_string(s.p[0]));
    }
    defined[size_t(s.out)] = true;
    plan->steps.push_back(std::move(s));
  }
  for (int64_t w = 0; w < numWeights; w++) {
    COVIDNET_CHECK(a, plan->weightLen[size_t(w)] >= 0, "numWeights", "every weight used by an op (weight " + std::to_string(w) + " is not)", std::to_string(numWeights));
  }
  plan->isOutput.assign(size_t(nv), false);
  for (size_t k = 0; k < outs.size(); k++) {
    const int64_t v = outs[k];
    COVIDNET_CHECK(a, v >= 0 && v < nv && defined[size_t(v)], "outputs[" + std::to_string(k) + "]", "a value defined by the program", std::to_string(v));
    plan->outputs.push_back(v);
    plan->isOutput[size_t(v)] = true;
  }
  // The trunk ends at the first dense layer (the head runs on the whole batch: the dense weights are
  // read once per batch, not once per image).
  plan->trunkEnd = plan->steps.size();
  for (size_t i = 0; i < plan->steps.size(); i++) {
    if (plan->steps[i].op == kDense) {
      plan->trunkEnd = i;
      break;
    }
  }
  plan->batchVal.assign(size_t(nv), false);
  for (size_t i = 0; i < plan->steps.size(); i++) {
    const Step &s = plan->steps[i];
    if (i >= plan->trunkEnd) {
      plan->batchVal[size_t(s.out)] = true;
      for (int64_t v : s.in) plan->batchVal[size_t(v)] = true;
    }
  }
  for (size_t v = 0; v < size_t(nv); v++) if (plan->isOutput[v]) plan->batchVal[v] = true;
  // Buffer plan (trunk and batch values separately): a value's slot is free again after its last
  // reader; the smallest free slot that fits is taken. Outputs get their own (returned) arrays, the
  // input is the caller's.
  std::vector<int64_t> last(size_t(nv), -1);
  for (size_t i = 0; i < plan->steps.size(); i++) for (int64_t v : plan->steps[i].in) last[size_t(v)] = int64_t(i);
  plan->slotOf.assign(size_t(nv), -1);
  for (int pass = 0; pass < 2; pass++) {
    const bool batchPass = pass == 1;
    auto &slotPer = batchPass ? plan->slotPerB : plan->slotPerT;
    auto mine = [&](int64_t v) { return v != 0 && !plan->isOutput[size_t(v)] && plan->batchVal[size_t(v)] == batchPass; };
    std::vector<int64_t> freeSlots;
    for (size_t i = 0; i < plan->steps.size(); i++) {
      const Step &s = plan->steps[i];
      if (mine(s.out)) {
        const int64_t need = plan->vals[size_t(s.out)].per();
        int64_t best = -1;
        for (size_t k = 0; k < freeSlots.size(); k++) {
          const int64_t sl = freeSlots[k];
          if (slotPer[size_t(sl)] >= need && (best < 0 || slotPer[size_t(sl)] < slotPer[size_t(freeSlots[size_t(best)])])) best = int64_t(k);
        }
        if (best >= 0) {
          plan->slotOf[size_t(s.out)] = freeSlots[size_t(best)];
          freeSlots.erase(freeSlots.begin() + best);
        } else {
          plan->slotOf[size_t(s.out)] = int64_t(slotPer.size());
          slotPer.push_back(need);
        }
      }
      for (int64_t v : s.in) {
        // an Add may read a value twice: its slot is freed once
        if (mine(v) && last[size_t(v)] == int64_t(i) &&
            std::find(freeSlots.begin(), freeSlots.end(), plan->slotOf[size_t(v)]) == freeSlots.end()) {
          freeSlots.push_back(plan->slotOf[size_t(v)]);
        }
      }
      // a value nobody reads frees its slot at once
      if (mine(s.out) && last[size_t(s.out)] < 0) freeSlots.push_back(plan->slotOf[size_t(s.out)]);
    }
  }
  auto *holder = new Holder{std::move(plan)};
  auto ext = Napi::External<Holder>::New(info.Env(), holder, [](Napi::Env, Holder *h) { delete h; });
  if (napi_type_tag_object(info.Env(), ext, &kPlanTag) != napi_ok) throw std::runtime_error("planCreate: could not tag the plan");
  return ext;
}

Holder &holderOf(const Args &a, const Napi::Value &v) {
  bool tagged = false;
  if (!v.IsExternal() || napi_check_object_type_tag(a.env(), v, &kPlanTag, &tagged) != napi_ok || !tagged) {
    a.fail(true, "plan", "a plan made by planCreate", describe(v));
  }
  return *v.As<Napi::External<Holder>>().Data();
}

Plan &livePlan(const Args &a, const Napi::Value &v) {
  Holder &h = holderOf(a, v);
  if (!h.plan) a.fail(false, "plan", "a live plan", "a disposed plan");
  return *h.plan;
}

// ------------------------------------------------------------------------- configurations

memory::desc nhwc(int64_t n, const Val &v) { return memory::desc({n, v.c, v.h, v.w}, dt::f32, tag::nhwc); }

// Pointwise convs with at least this many input channels run as oneDNN matmuls (MatmulPrim).
// COVIDNET_PLAN_GEMM=sgemm keeps them all on dnnl_sgemm, =matmul sends them all to matmuls
// (measurements, and tests on small nets); read when a configuration is made.
constexpr int64_t kMatmulMinK = 64;
bool useMatmul(int64_t k) {
  const char *g = std::getenv("COVIDNET_PLAN_GEMM");
  if (g && std::strcmp(g, "sgemm") == 0) return false;
  if (g && std::strcmp(g, "matmul") == 0) return true;
  return k >= kMatmulMinK;
}

// COVIDNET_PLAN_PARALLEL=image|layer forces a mode (measurements); default: image-parallel when
// the batch keeps every thread busy.
bool imageParallel(int64_t batch, int threads) {
  const char *force = std::getenv("COVIDNET_PLAN_PARALLEL");
  if (force && std::strcmp(force, "layer") == 0) return false;
  if (force && std::strcmp(force, "image") == 0) return threads > 1;
  return threads > 1 && batch >= threads && (batch % threads == 0 || batch >= 4 * threads);
}

Config &configFor(Plan &plan, int64_t batch) {
  const int threads = omp_get_max_threads();
  for (auto &c : plan.configs) {
    if (c->batch == batch && c->threads == threads) {
      c->lastUse = ++plan.clock;
      return *c;
    }
  }
  if (plan.configs.size() >= kConfigs) {
    auto oldest = std::min_element(plan.configs.begin(), plan.configs.end(), [](const auto &x, const auto &y) { return x->lastUse < y->lastUse; });
    plan.configs.erase(oldest);
  }
  auto c = std::make_unique<Config>();
  c->batch = batch;
  c->threads = threads;
  c->imagePar = imageParallel(batch, threads);
  c->lastUse = ++plan.clock;
  const int lanes = c->imagePar ? threads : 1;
  c->trunkSlots.resize(size_t(lanes));
  for (auto &ts : c->trunkSlots) for (int64_t per : plan.slotPerT) ts.emplace_back(size_t(per * (c->imagePar ? 1 : batch)));
  for (int64_t per : plan.slotPerB) c->batchSlots.emplace_back(size_t(per * batch));
  c->conv.resize(plan.steps.size());
  c->pool.resize(plan.steps.size());
  c->mm.resize(plan.steps.size());
  for (size_t i = 0; i < plan.steps.size(); i++) {
    const Step &s = plan.steps[i];
    const Val &in = plan.vals[size_t(s.in[0])], &out = plan.vals[size_t(s.out)];
    const int64_t *p = s.p;
    const bool perImage = c->imagePar && i < plan.trunkEnd;
    const int64_t n = perImage ? 1 : batch;
    dims strides{p[2], p[3]}, padl{p[4], p[5]}, padr{p[6], p[7]};
    primitive_attr attr;
    attr.set_scratchpad_mode(scratchpad_mode::user);
    if (s.op == kConv && isPointwise(s, in, out) && useMatmul(in.c)) {
      const int64_t M = n * in.h * in.w;
      if (p[9]) {
        post_ops po;
        po.append_eltwise(1.0f, algorithm::eltwise_relu, 0.0f, 0.0f);
        attr.set_post_ops(po);
      }
      const bool one = perImage || (threads > 1 && double(M) * in.c * out.c < kSmallMacs);
      std::unique_ptr<OneThread> guard(one ? new OneThread() : nullptr);
      memory::desc src({M, in.c}, dt::f32, tag::ab), wts({in.c, out.c}, dt::f32, tag::ab), dst({M, out.c}, dt::f32, tag::ab);
      memory::desc bias = p[11] >= 0 ? memory::desc({1, out.c}, dt::f32, tag::ab) : memory::desc();
      matmul::primitive_desc pd(p[11] >= 0 ? matmul::desc(src, wts, bias, dst) : matmul::desc(src, wts, dst), attr, eng());
      c->scratchBytes = std::max(c->scratchBytes, pd.scratchpad_desc().get_size());
      c->mm[i].reset(new MatmulPrim{one, pd, matmul(pd), src, wts, bias, dst});
    } else if (s.op == kConv && !isPointwise(s, in, out)) {
      const int64_t mult = p[8];
      dims wd = mult ? dims{in.c, mult, 1, p[0], p[1]} : dims{out.c, in.c, p[0], p[1]};
      // TF.js layouts: dense [KH,KW,C,OC]; depthwise [KH,KW,C,mult]
      memory::desc wUser = mult ? memory::desc(wd, dt::f32, dims{mult, 1, 1, p[1] * in.c * mult, in.c * mult})
                                : memory::desc(wd, dt::f32, dims{1, out.c, p[1] * in.c * out.c, in.c * out.c});
      if (p[9]) {
        post_ops po;
        po.append_eltwise(1.0f, algorithm::eltwise_relu, 0.0f, 0.0f);
        attr.set_post_ops(po);
      }
      memory::desc wAny(wd, dt::f32, tag::any);
      const bool one = perImage || (threads > 1 && double(n) * out.h * out.w * out.c * p[0] * p[1] * (mult ? 1 : in.c) < kSmallMacs);
      std::unique_ptr<OneThread> guard(one ? new OneThread() : nullptr);
      auto d = p[11] >= 0 ? convolution_forward::desc(prop_kind::forward_inference, algorithm::convolution_direct, nhwc(n, in), wAny,
                                                      memory::desc({out.c}, dt::f32, tag::x), nhwc(n, out), strides, dims{0, 0}, padl, padr)
                          : convolution_forward::desc(prop_kind::forward_inference, algorithm::convolution_direct, nhwc(n, in), wAny,
                                                      nhwc(n, out), strides, dims{0, 0}, padl, padr);
      convolution_forward::primitive_desc pd(d, attr, eng());
      c->scratchBytes = std::max(c->scratchBytes, pd.scratchpad_desc().get_size());
      auto cp = std::unique_ptr<ConvPrim>(new ConvPrim{one, pd, convolution_forward(pd), wUser, nullptr, nullptr});
      if (pd.weights_desc() != wUser) {
        cp->wMem.reset(new memory(pd.weights_desc(), eng()));
        cp->wReorder.reset(new reorder(reorder::primitive_desc(eng(), wUser, eng(), pd.weights_desc())));
      }
      c->conv[i] = std::move(cp);
    } else if (s.op == kPool) {
      const bool one = perImage || (threads > 1 && double(n) * in.per() < double(kParallelMin));
      std::unique_ptr<OneThread> guard(one ? new OneThread() : nullptr);
      auto d = pooling_forward::desc(prop_kind::forward_inference, algorithm::pooling_max, nhwc(n, in), nhwc(n, out), strides,
                                     dims{p[0], p[1]}, padl, padr);
      pooling_forward::primitive_desc pd(d, attr, eng());
      c->scratchBytes = std::max(c->scratchBytes, pd.scratchpad_desc().get_size());
      c->pool[i].reset(new PoolPrim{one, pd, pooling_forward(pd)});
    }
  }
  for (int t = 0; t < lanes; t++) {
    c->streams.emplace_back(new stream(eng()));
    c->scratch.emplace_back(std::max<size_t>(c->scratchBytes, 64));
  }
  plan.configs.push_back(std::move(c));
  return *plan.configs.back();
}

// ------------------------------------------------------------------------- kernels

inline float activate(float v, int64_t act) {
  if (act == kRelu) return v < 0.f ? 0.f : v;
  if (act == kSigmoid) return 1.f / (1.f + std::exp(-v));
  return v;
}

// y[M,N] = act(x[M,K] · w[K,N] + b). Many rows (a pointwise conv): row blocks, one sequential GEMM
// each, bias + activation applied while the block is in cache (as conv.cc's pointwiseForward).
// Few rows (a dense layer on a batch): one multi-threaded GEMM, then the bias pass. `seq`: on the
// calling thread only (inside the image-parallel trunk), in row blocks too.
void gemmBiasAct(int64_t M, int64_t K, int64_t N, const float *x, const float *w, const float *b, float *y, int64_t act, bool seq) {
  if (seq) {
    const int64_t rows = std::max<int64_t>(16, 32768 / std::max<int64_t>(N, 1));
    for (int64_t r0 = 0; r0 < M; r0 += rows) {
      const int64_t r1 = std::min(M, r0 + rows);
      sgemm('N', 'N', r1 - r0, N, K, x + r0 * K, K, w, N, 0.f, y + r0 * N, N);
      if (!b && act == kLinear) continue;
      if (act == kSigmoid) {
        for (int64_t r = r0; r < r1; r++)
          for (int64_t j = 0; j < N; j++) y[r * N + j] = activate(y[r * N + j] + (b ? b[j] : 0.f), act);
        continue;
      }
      biasReluRows(y, r0, r1, N, b, act == kRelu);
    }
    return;
  }
  MaybeOneThread small(double(M) * K * N);
  const int T = omp_get_max_threads();
  if (M < 64 * T) {
    sgemm('N', 'N', M, N, K, x, K, w, N, 0.f, y, N);
    if (!b && act == kLinear) return;
#pragma omp parallel for schedule(static) if (M * N > 32768)
    for (int64_t r = 0; r < M; r++) {
      float *row = y + r * N;
      for (int64_t j = 0; j < N; j++) row[j] = activate(row[j] + (b ? b[j] : 0.f), act);
    }
    return;
  }
  const int64_t rowsPerBlock = std::max<int64_t>(8, std::min<int64_t>(std::max<int64_t>(8, 65536 / std::max<int64_t>(N, 1)), (M + T - 1) / T));
  const int64_t blocks = (M + rowsPerBlock - 1) / rowsPerBlock;
  const bool relu = act == kRelu;
  RegionStatus st;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t bi = 0; bi < blocks; bi++) {
    const int64_t r0 = bi * rowsPerBlock, r1 = std::min(M, r0 + rowsPerBlock);
    sgemmIn(st, 'N', 'N', r1 - r0, N, K, x + r0 * K, K, w, N, 0.f, y + r0 * N, N);
    if (act == kSigmoid) {
      for (int64_t r = r0; r < r1; r++)
        for (int64_t j = 0; j < N; j++) y[r * N + j] = activate(y[r * N + j] + (b ? b[j] : 0.f), act);
      continue;
    }
    biasReluRows(y, r0, r1, N, b, relu);
  }
  st.check("plan: dnnl_sgemm failed");
}

// out = in[0] + in[1] + … (left to right, as TF.js's AddN), in cache-sized chunks.
void addN(const std::vector<const float *> &in, float *out, int64_t n, bool seq) {
  constexpr int64_t kChunk = 4096;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (!seq && n > kParallelMin)
  for (int64_t ci = 0; ci < chunks; ci++) {
    const int64_t b = ci * kChunk, e = std::min(n, b + kChunk);
    const float *a0 = in[0];
#pragma omp simd
    for (int64_t i = b; i < e; i++) out[i] = a0[i];
    for (size_t k = 1; k < in.size(); k++) {
      const float *ak = in[k];
#pragma omp simd
      for (int64_t i = b; i < e; i++) out[i] += ak[i];
    }
  }
}

// Row-wise softmax as TF.js computes it: exp(x − logsumexp(x)), logsumexp = max + log Σ exp(x − max).
void softmaxRows(const float *x, float *y, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * cols;
    float *yr = y + r * cols;
    float m = xr[0];
    for (int64_t j = 1; j < cols; j++) m = std::max(m, xr[j]);
    float s = 0.f;
    for (int64_t j = 0; j < cols; j++) s += std::exp(xr[j] - m);
    const float lse = m + std::log(s);
    for (int64_t j = 0; j < cols; j++) yr[j] = std::exp(xr[j] - lse);
  }
}

// The L2Normalize layer (src/model/layers.ts): x / √(Σx² + 1e-12) per row.
void l2normRows(const float *x, float *y, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * cols;
    float s = 0.f;
    for (int64_t j = 0; j < cols; j++) s += xr[j] * xr[j];
    const float k = 1.f / std::sqrt(s + 1e-12f);
    for (int64_t j = 0; j < cols; j++) y[r * cols + j] = xr[j] * k;
  }
}

// ------------------------------------------------------------------------- run

Napi::Value PlanRun(const Napi::CallbackInfo &info) {
  Args a(info, "planRun");
  Plan &plan = livePlan(a, info[0]);
  const int64_t batch = a.integer(2, "batch", 1, kMaxBatch);
  const float *input = a.f32(1, "input", a.product("input batch·h·w·c", {batch, plan.vals[0].per()}));
  Napi::Array wl = a.array(3, "weights");
  COVIDNET_CHECK(a, wl.Length() == plan.weightLen.size(), "weights", "an array of " + std::to_string(plan.weightLen.size()) + " Float32Arrays",
                 describe(wl));
  std::vector<float *> w(plan.weightLen.size());
  for (uint32_t k = 0; k < wl.Length(); k++) {
    const std::string name = "weights[" + std::to_string(k) + "]";
    w[k] = a.f32In(wl.Get(k), name.c_str(), plan.weightLen[k]);
  }
  // outputs: fresh arrays the ops write into directly
  Napi::Env env = info.Env();
  Napi::Array result = Napi::Array::New(env, plan.outputs.size());
  std::vector<float *> ptr(plan.vals.size(), nullptr);
  ptr[0] = const_cast<float *>(input);  // only ever read
  for (size_t k = 0; k < plan.outputs.size(); k++) {
    const int64_t v = plan.outputs[k];
    if (v == 0) {
      auto arr = Napi::Float32Array::New(env, size_t(batch * plan.vals[0].per()));
      std::memcpy(arr.Data(), input, sizeof(float) * arr.ElementLength());
      result.Set(uint32_t(k), arr);
      continue;
    }
    // the same value asked twice: one array, returned twice
    if (!ptr[size_t(v)]) {
      auto arr = Napi::Float32Array::New(env, size_t(batch * plan.vals[size_t(v)].per()));
      ptr[size_t(v)] = arr.Data();
      result.Set(uint32_t(k), arr);
    } else {
      for (size_t j = 0; j < k; j++) if (plan.outputs[j] == v) result.Set(uint32_t(k), result.Get(uint32_t(j)));
    }
  }
  Config &cfg = configFor(plan, batch);
  // weights into the primitives' layouts (once per run, shared by the threads)
  for (size_t i = 0; i < plan.steps.size(); i++) {
    ConvPrim *cp = cfg.conv[i].get();
    if (!cp || !cp->wReorder) continue;
    OneThread one;
    memory user(cp->wUser, eng(), w[size_t(plan.steps[i].p[10])]);
    cp->wReorder->execute(strm(), user, *cp->wMem);
    strm().wait();
  }
  // batch storage: the input, the outputs' arrays, the batch slots
  std::vector<float *> base(plan.vals.size(), nullptr);
  base[0] = const_cast<float *>(input);  // only ever read
  for (size_t v = 1; v < plan.vals.size(); v++) {
    if (ptr[v]) base[v] = ptr[v];
    else if (plan.batchVal[v] && plan.slotOf[v] >= 0) base[v] = cfg.batchSlots[size_t(plan.slotOf[v])].data();
  }
  const int lanes = cfg.imagePar ? cfg.threads : 1;
  std::vector<std::array<double, kKinds>> secs(static_cast<size_t>(lanes));
  for (auto &a : secs) a.fill(0.0);

  // one step on n images at image offset `img`, with lane t's slots, stream and scratchpad
  auto runStep = [&](size_t i, int64_t n, int64_t img, int t, bool seq) {
    using clk = std::chrono::steady_clock;
    const auto t0 = clk::now();
    const Step &s = plan.steps[i];
    const Val &in = plan.vals[size_t(s.in[0])], &out = plan.vals[size_t(s.out)];
    auto at = [&](int64_t v) -> float * {
      if (base[size_t(v)]) return base[size_t(v)] + img * plan.vals[size_t(v)].per();
      return cfg.trunkSlots[size_t(t)][size_t(plan.slotOf[size_t(v)])].data();
    };
    const float *x = at(s.in[0]);
    float *y = at(s.out);
    const int64_t *p = s.p;
    stream &st = *cfg.streams[size_t(t)];
    memory scratch;
    int kind = s.op == kPool ? kKindPool : s.op == kAdd ? kKindAdd : s.op == kDense ? kKindDense : kKindOther;
    switch (s.op) {
      case kConv: {
        const float *bias = p[11] >= 0 ? w[size_t(p[11])] : nullptr;
        if (cfg.mm[i]) {
          kind = kKindPointwise;
          MatmulPrim &mp = *cfg.mm[i];
          std::unique_ptr<OneThread> small(!seq && mp.oneThread ? new OneThread() : nullptr);
          std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(mp.src, eng(), const_cast<float *>(x))},
                                               {DNNL_ARG_WEIGHTS, memory(mp.wts, eng(), const_cast<float *>(w[size_t(p[10])]))},
                                               {DNNL_ARG_DST, memory(mp.dst, eng(), y)},
                                               {DNNL_ARG_SCRATCHPAD, memory(mp.pd.scratchpad_desc(), eng(), cfg.scratch[size_t(t)].data())}};
          if (bias) args.emplace(DNNL_ARG_BIAS, memory(mp.bias, eng(), const_cast<float *>(bias)));
          mp.prim.execute(st, args);
          st.wait();
          break;
        }
        if (isPointwise(s, in, out)) {
          kind = kKindPointwise;
          // the TF.js kernel [1,1,C,OC] is the GEMM's [K, N] as it is
          gemmBiasAct(n * in.h * in.w, in.c, out.c, x, w[size_t(p[10])], bias, y, p[9] ? kRelu : kLinear, seq);
          break;
        }
        kind = p[8] ? kKindDepthwise : kKindConv;
        ConvPrim &cp = *cfg.conv[i];
        std::unique_ptr<OneThread> small(!seq && cp.oneThread ? new OneThread() : nullptr);
        memory wm = cp.wReorder ? *cp.wMem : memory(cp.wUser, eng(), w[size_t(p[10])]);
        memory src(nhwc(n, in), eng(), const_cast<float *>(x)), dst(nhwc(n, out), eng(), y);
        std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, dst},
                                             {DNNL_ARG_SCRATCHPAD, memory(cp.pd.scratchpad_desc(), eng(), cfg.scratch[size_t(t)].data())}};
        if (bias) args.emplace(DNNL_ARG_BIAS, memory(memory::desc({out.c}, dt::f32, tag::x), eng(), const_cast<float *>(bias)));
        cp.prim.execute(st, args);
        st.wait();
        break;
      }
      case kPool: {
        PoolPrim &pp = *cfg.pool[i];
        std::unique_ptr<OneThread> small(!seq && pp.oneThread ? new OneThread() : nullptr);
        memory src(nhwc(n, in), eng(), const_cast<float *>(x)), dst(nhwc(n, out), eng(), y);
        pp.prim.execute(st, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst},
                             {DNNL_ARG_SCRATCHPAD, memory(pp.pd.scratchpad_desc(), eng(), cfg.scratch[size_t(t)].data())}});
        st.wait();
        break;
      }
      case kAdd: {
        std::vector<const float *> ins;
        for (int64_t v : s.in) ins.push_back(at(v));
        addN(ins, y, n * out.per(), seq);
        break;
      }
      case kDense:
        gemmBiasAct(n, in.per(), out.c, x, w[size_t(p[1])], p[2] >= 0 ? w[size_t(p[2])] : nullptr, y, p[0], seq);
        break;
      case kSoftmax:
        softmaxRows(x, y, n * out.per() / out.c, out.c);
        break;
      case kL2Norm:
        l2normRows(x, y, n * out.per() / out.c, out.c);
        break;
      case kAct: {
        const int64_t m = n * out.per();
        for (int64_t k = 0; k < m; k++) y[k] = activate(x[k], p[0]);
        break;
      }
      default:
        break;
    }
    secs[size_t(t)][size_t(kind)] += std::chrono::duration<double>(clk::now() - t0).count();
  };

  plan.runs++;
  if (cfg.imagePar) {
    // each thread: whole images through the trunk (no exception may leave the region)
    RegionStatus status;
#pragma omp parallel num_threads(cfg.threads)
    {
      const int t = omp_get_thread_num();
#pragma omp for schedule(static)
      for (int64_t img = 0; img < batch; img++) {
        status.guard([&] {
          for (size_t i = 0; i < plan.trunkEnd; i++) runStep(i, 1, img, t, true);
        });
      }
    }
    status.check("plan: a trunk op failed");
    // the wall time of the trunk ≈ the threads' mean
    for (int k = 0; k < kKinds; k++) {
      double sum = 0;
      for (auto &a : secs) sum += a[size_t(k)];
      plan.seconds[k] += sum / lanes;
      for (auto &a : secs) a[size_t(k)] = 0;
    }
  } else {
    for (size_t i = 0; i < plan.trunkEnd; i++) runStep(i, batch, 0, 0, false);
  }
  for (size_t i = plan.trunkEnd; i < plan.steps.size(); i++) runStep(i, batch, 0, 0, false);
  for (int k = 0; k < kKinds; k++) plan.seconds[k] += secs[0][size_t(k)];
  return result;
}

Napi::Value PlanDispose(const Napi::CallbackInfo &info) {
  Args a(info, "planDispose");
  holderOf(a, info[0]).plan.reset();
  return info.Env().Undefined();
}

Napi::Value PlanInfo(const Napi::CallbackInfo &info) {
  Args a(info, "planInfo");
  Holder &h = holderOf(a, info[0]);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("disposed", Napi::Boolean::New(info.Env(), !h.plan));
  if (h.plan) {
    // planned floats per image: the trunk's slots (per thread in the image-parallel mode) and the batch's
    int64_t floats = 0;
    for (int64_t s : h.plan->slotPerT) floats += s;
    for (int64_t s : h.plan->slotPerB) floats += s;
    o.Set("ops", Napi::Number::New(info.Env(), double(h.plan->steps.size())));
    o.Set("values", Napi::Number::New(info.Env(), double(h.plan->vals.size())));
    o.Set("slots", Napi::Number::New(info.Env(), double(h.plan->slotPerT.size() + h.plan->slotPerB.size())));
    o.Set("floatsPerImage", Napi::Number::New(info.Env(), double(floats)));
    o.Set("runs", Napi::Number::New(info.Env(), double(h.plan->runs)));
    Napi::Object ms = Napi::Object::New(info.Env());
    for (int k = 0; k < kKinds; k++) ms.Set(kKindNames[k], Napi::Number::New(info.Env(), h.plan->seconds[k] * 1e3));
    o.Set("msByKind", ms);
  }
  return o;
}

}  // namespace

void RegisterPlan(Napi::Env env, Napi::Object exports) {
  Export<PlanCreate>(env, exports, "planCreate");
  Export<PlanRun>(env, exports, "planRun");
  Export<PlanDispose>(env, exports, "planDispose");
  Export<PlanInfo>(env, exports, "planInfo");
}

}  // namespace covidnet
