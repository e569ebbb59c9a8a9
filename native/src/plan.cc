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
//   planInfo(plan) -> { ops, fusedPepx, tailSteps, values, slots, floatsPerImage, runs, msByKind, steps, disposed }
//                                    steps: [{ kind, shape, ms }] per op, where the time goes
//
// program: kRecord int32 per op: [op, out, nIn, in0..in15, params...]. values: [h, w, c] per value
// (per image; value 0 is the input; dense values are 1×1×units). Every argument is validated at the
// boundary (common.h): a bad call throws a JS error with code E_NATIVE_ARG, never crashes.
#include "common.h"

#include <immintrin.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <unordered_map>

namespace covidnet {
namespace {

using namespace dnnl;

enum OpCode : int64_t { kConv = 1, kPool = 2, kAdd = 3, kDense = 4, kSoftmax = 5, kL2Norm = 6, kAct = 7,
                       // made by fusion (never accepted from a program): a PEPX module; a pointwise conv + 2×2 max pool
                       kPepx = 8, kPointwisePool = 9 };
enum Act : int64_t { kLinear = 0, kRelu = 1, kSigmoid = 2 };
// kinds of work for the time profile
enum Kind { kKindPointwise, kKindConv, kKindDepthwise, kKindPepx, kKindPointwisePool, kKindPool, kKindAdd, kKindDense, kKindOther, kKinds };
const char *const kKindNames[kKinds] = {"conv1x1", "convKxK", "depthwise", "pepx", "conv1x1+pool", "maxpool", "add", "dense", "other"};
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

// A PEPX chain fused into one step (kPepx, p[0] = its index in Plan::pepx): the five convs as the
// program gave them (their weight indices and activations) and the shape pepx.cc runs.
struct Pepx {
  Step part[5];  // projection, expansion, depthwise, projection, extension
  PepxShape shape;
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
  std::vector<bool> kernel;                      // per step: a pointwise conv on pointwise.cc's kernel
  std::vector<bool> denseStream;                 // per step: a dense layer on dense.cc's streaming product
  std::vector<std::unique_ptr<PoolPrim>> pool;
  std::vector<std::vector<float>> pepxScratch;   // per thread (pepx.cc's band and tile buffers)
  std::vector<std::unique_ptr<stream>> streams;  // per thread
  std::vector<std::vector<char>> scratch;        // per thread
  size_t scratchBytes = 0;
};

// Batch 1 after a pause. The OpenMP worker then sleeps, and on a VM it can take milliseconds to
// wake (libgomp on the 2-core EPYC: an empty parallel region took 6.8 ms after a 100 ms pause,
// 0.002 ms after 1 ms). Each op of a batch-1 forward ends in a barrier that waits for it, so a
// small network is faster on the calling thread alone (112², after 100 ms pauses: 2.4 ms alone,
// 11.4 on both threads), while a large one still gains from the second core once it is awake.
// Which wins depends on the machine and the network, so the plan measures both: its first cold
// batch-1 runs try each, then it takes the faster by the mean of its cold runs, trying the other
// every kColdExplore-th time. COVIDNET_PLAN_COLD=threads|alone fixes the choice.
constexpr double kColdGapSeconds = 0.01;
constexpr uint64_t kColdExplore = 16;
struct ColdStats {
  double seconds[2] = {0, 0};  // exponential mean of cold batch-1 runs: [0] all threads, [1] alone
  uint64_t seen[2] = {0, 0};
  uint64_t runs = 0;
};

struct Plan {
  std::vector<Val> vals;
  std::vector<Step> steps;
  std::vector<Pepx> pepx;
  std::vector<Step> pointwisePool;  // kPointwisePool's convs (p[0] indexes), as the program gave them
  std::vector<int64_t> outputs;
  std::vector<int64_t> weightLen;  // expected elements per weight
  size_t trunkEnd = 0;             // steps [0, trunkEnd) are the trunk: before the first dense layer
  // steps [tailStart, trunkEnd): the trunk's tail on small maps, run by the image-parallel mode on
  // groups of images (tailGroup)
  size_t tailStart = 0;
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
  std::vector<double> stepSeconds;  // per step (trunk steps: the mean over the image-parallel lanes)
  std::vector<int> stepKind;
  uint64_t runs = 0;
  ColdStats cold;
};
// Batch configs kept per plan: an evaluation batch, its last partial batch, and batch 1 on the
// calling thread alone (coldAlone) beside batch 1 on all threads.
constexpr size_t kConfigs = 3;

// The trunk's tail: its last steps whose input maps have at most kTailPixels pixels (COVID-Net's
// last stage: 7×7 at 224², and 7×7, 3×3 at 112²). There an image-parallel thread runs a group of
// images through a step at once (up to kTailRows pixels per product): large weights against few
// pixels are then fetched once per group, not once per image (pepx.cc's pepxImages). Measured on
// the 2-core EPYC, one thread, the last stage's four products at 224²: 39 GMAC/s one image at a
// time, 44 two at a time, 47 four, 50 eight.
constexpr int64_t kTailPixels = 64;
constexpr int64_t kTailRows = 400;
int64_t tailGroup(const Val &in) { return std::max<int64_t>(1, kTailRows / (in.h * in.w)); }
// Images per tail group: about kTailGroupsPerThread groups per thread, taken in turn by whichever
// thread is free once the group's images are through the rest of the trunk, so that a thread done
// early with its images runs tail groups while the other finishes its last image (a whole image is
// 1.4 ms of a core at 112², 45 at 224²). One, two or four groups per thread measured alike back to
// back (224² b8: 22.9, 22.9, 23.2 ms/img; 112² b16: 0.72 for all); two bound the wait when a vCPU
// stalls.
constexpr int64_t kTailGroupsPerThread = 2;
int64_t tailGroupImages(int64_t batch, int threads) {
  const int64_t groups = int64_t(threads) * kTailGroupsPerThread;
  return std::max<int64_t>(1, (batch + groups - 1) / groups);
}

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

// How a pointwise conv runs: on our AVX-512 kernel (pointwise.cc) where the CPU has it, else as a
// oneDNN matmul (MatmulPrim) with at least kMatmulMinK input channels, else on dnnl_sgemm.
// COVIDNET_PLAN_GEMM=kernel|matmul|sgemm sends every pointwise conv one way (measurements, and
// tests of every path; kernel falls back where the CPU lacks AVX-512); read when a plan is made and
// when it makes a configuration.
enum class Gemm { kSgemm, kMatmul, kKernel };
constexpr int64_t kMatmulMinK = 64;
Gemm gemmFor(int64_t k) {
  const char *g = std::getenv("COVIDNET_PLAN_GEMM");
  const std::string force = g ? g : "";
  if (force == "sgemm") return Gemm::kSgemm;
  if (force == "matmul") return Gemm::kMatmul;
  if (pointwiseKernelAvailable()) return Gemm::kKernel;
  return k >= kMatmulMinK ? Gemm::kMatmul : Gemm::kSgemm;
}


// PEPX chains (1×1 → 1×1 → 3×3 depthwise → 1×1 → 1×1, each value read only by the next op and not
// an output) become one kPepx step at the first conv's place (valid: the chain reads only its input,
// defined before it). Only where all four 1×1s would run on pointwise.cc's kernel anyway (AVX-512,
// K·N that fits; COVIDNET_PLAN_GEMM=kernel: any); COVIDNET_PLAN_FUSE=0 keeps the ops apart
// (measurements, tests). Read when the plan is made.
bool fusionOff() {
  const char *f = std::getenv("COVIDNET_PLAN_FUSE");
  return f && std::strcmp(f, "0") == 0;
}

// Running sums. COVID-Net's module inputs are sums of all earlier module outputs of the stage
// (add(o1, …, o(m-1), ul)), so op by op a stage of n modules reads O(n²) maps. An Add whose inputs
// contain an earlier Add's inputs (as a multiset) adds the rest to that Add's result instead:
// add(o1, o2, ul) → add(add(o1, ul), o2). Each module output is then read by one Add, which the
// producing conv can absorb (fuseAddEpilogues). Only the rounding differs from TF.js's order.
void chainSums(Plan &plan) {
  std::vector<std::vector<int64_t>> given;  // the inputs as the program gave them (compared, not the rewritten)
  for (const Step &st : plan.steps) given.push_back(st.in);
  for (size_t j = 0; j < plan.steps.size(); j++) {
    Step &sj = plan.steps[j];
    if (sj.op != kAdd || sj.in.size() < 3) continue;
    int64_t best = -1;
    size_t bestSize = 0;
    for (size_t i = 0; i < j; i++) {
      const Step &si = plan.steps[i];
      if (si.op != kAdd || given[i].size() <= bestSize || given[i].size() >= sj.in.size()) continue;
      std::vector<int64_t> rest = sj.in;
      bool subset = true;
      for (int64_t v : given[i]) {
        auto it = std::find(rest.begin(), rest.end(), v);
        if (it == rest.end()) {
          subset = false;
          break;
        }
        rest.erase(it);
      }
      if (subset) {
        best = int64_t(i);
        bestSize = given[i].size();
      }
    }
    if (best < 0) continue;
    std::vector<int64_t> rest = sj.in;
    for (int64_t v : given[size_t(best)]) rest.erase(std::find(rest.begin(), rest.end(), v));
    sj.in = {plan.steps[size_t(best)].out};
    sj.in.insert(sj.in.end(), rest.begin(), rest.end());
  }
}

void fusePepx(Plan &plan) {
  if (fusionOff() || !pointwiseKernelAvailable()) return;
  const size_t nv = plan.vals.size();
  std::vector<int64_t> readers(nv, 0), reader(nv, -1);
  for (size_t i = 0; i < plan.steps.size(); i++) {
    for (int64_t v : plan.steps[i].in) {
      readers[size_t(v)]++;
      reader[size_t(v)] = int64_t(i);
    }
  }
  const auto pointwiseOnKernel = [&](const Step &s) {
    const Val &in = plan.vals[size_t(s.in[0])], &out = plan.vals[size_t(s.out)];
    return s.op == kConv && isPointwise(s, in, out) && gemmFor(in.c) == Gemm::kKernel;
  };
  const auto depthwise3x3 = [&](const Step &s) {
    const int64_t *p = s.p;
    return s.op == kConv && depthwise3x3Same(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8]);
  };
  const auto pool2x2 = [&](int64_t i) {
    if (i < 0) return false;
    const int64_t *p = plan.steps[size_t(i)].p;
    return plan.steps[size_t(i)].op == kPool && p[0] == 2 && p[1] == 2 && p[2] == 2 && p[3] == 2 && p[4] == 0 && p[5] == 0 && p[6] == 0 && p[7] == 0;
  };
  // the sole reader of step i's output (an op reading it once), or -1
  const auto next = [&](size_t i) -> int64_t {
    const int64_t v = plan.steps[i].out;
    if (plan.isOutput[size_t(v)] || readers[size_t(v)] != 1) return -1;
    return reader[size_t(v)];
  };
  std::vector<bool> drop(plan.steps.size(), false);
  std::vector<std::pair<size_t, Step>> fused;  // (position, step)
  for (size_t i = 0; i < plan.steps.size(); i++) {
    if (drop[i] || !pointwiseOnKernel(plan.steps[i])) continue;
    int64_t chain[5] = {int64_t(i), -1, -1, -1, -1};
    bool ok = true;
    for (int k = 1; k < 5 && ok; k++) {
      chain[k] = next(size_t(chain[k - 1]));
      ok = chain[k] >= 0 && !drop[size_t(chain[k])] && (k == 2 ? depthwise3x3(plan.steps[size_t(chain[k])]) : pointwiseOnKernel(plan.steps[size_t(chain[k])]));
    }
    if (!ok) continue;
    Pepx px{};
    for (int k = 0; k < 5; k++) px.part[k] = plan.steps[size_t(chain[k])];
    const Val &x = plan.vals[size_t(px.part[0].in[0])];
    auto ch = [&](int k) { return plan.vals[size_t(px.part[k].out)].c; };
    // a 2×2 max pool reading the module's output alone is absorbed too
    const int64_t pool = next(size_t(chain[4]));
    const bool pooled = pool2x2(pool) && !drop[size_t(pool)] && x.h >= 2 && x.w >= 2;
    px.shape = PepxShape{x.h, x.w, x.c, ch(0), ch(1), ch(3), ch(4), px.part[0].p[9] != 0, px.part[1].p[9] != 0,
                         px.part[2].p[9] != 0, px.part[3].p[9] != 0, px.part[4].p[9] != 0, pooled};
    Step st{};
    st.op = kPepx;
    st.out = pooled ? plan.steps[size_t(pool)].out : px.part[4].out;
    if (pooled) drop[size_t(pool)] = true;
    st.in = {px.part[0].in[0]};
    st.p[0] = int64_t(plan.pepx.size());
    plan.pepx.push_back(px);
    for (int k = 0; k < 5; k++) drop[size_t(chain[k])] = true;
    fused.emplace_back(i, st);
  }
  // pointwise convs (on the kernel) whose output only a 2×2 max pool reads
  for (size_t i = 0; i < plan.steps.size(); i++) {
    if (drop[i] || !pointwiseOnKernel(plan.steps[i])) continue;
    const int64_t pool = next(i);
    const Val &x = plan.vals[size_t(plan.steps[i].in[0])];
    if (!pool2x2(pool) || drop[size_t(pool)] || x.h < 2 || x.w < 2) continue;
    Step st{};
    st.op = kPointwisePool;
    st.out = plan.steps[size_t(pool)].out;
    st.in = {plan.steps[i].in[0]};
    st.p[0] = int64_t(plan.pointwisePool.size());
    plan.pointwisePool.push_back(plan.steps[i]);
    drop[i] = drop[size_t(pool)] = true;
    fused.emplace_back(i, st);
  }
  if (fused.empty()) return;
  std::sort(fused.begin(), fused.end(), [](const auto &a, const auto &b) { return a.first < b.first; });
  std::vector<Step> steps;
  size_t fi = 0;
  for (size_t i = 0; i < plan.steps.size(); i++) {
    if (fi < fused.size() && fused[fi].first == i) steps.push_back(fused[fi++].second);
    else if (!drop[i]) steps.push_back(plan.steps[i]);
  }
  plan.steps = std::move(steps);
}

// A two-input Add whose one input is a pointwise conv's (or fused module's) output read by nothing
// else: the conv adds the other input in its epilogue (y = act(x·w + b) + s, as in[1]) and writes
// the Add's output; the module output itself is never stored. The other input must exist before the
// conv. Every pointwise path honours in[1] (the kernel and matmul fused, sgemm by a pass after).
void fuseAddEpilogues(Plan &plan) {
  if (fusionOff()) return;
  const size_t nv = plan.vals.size();
  std::vector<int64_t> readers(nv, 0), def(nv, -1);
  for (size_t i = 0; i < plan.steps.size(); i++) {
    for (int64_t v : plan.steps[i].in) readers[size_t(v)]++;
    def[size_t(plan.steps[i].out)] = int64_t(i);
  }
  std::vector<bool> drop(plan.steps.size(), false);
  for (size_t a = 0; a < plan.steps.size(); a++) {
    const Step &add = plan.steps[a];
    if (add.op != kAdd || add.in.size() != 2 || add.in[0] == add.in[1]) continue;
    for (int k : {1, 0}) {
      const int64_t o = add.in[size_t(k)], other = add.in[size_t(1 - k)];
      const int64_t p = def[size_t(o)];
      if (p < 0 || readers[size_t(o)] != 1 || plan.isOutput[size_t(o)]) continue;
      Step &prod = plan.steps[size_t(p)];
      const Val &in = plan.vals[size_t(prod.in[0])], &out = plan.vals[size_t(prod.out)];
      const bool pointwise = prod.op == kConv && isPointwise(prod, in, out);
      const bool module = prod.op == kPepx && !plan.pepx[size_t(prod.p[0])].shape.pool;
      if (!(pointwise || module) || prod.in.size() != 1 || def[size_t(other)] >= p) continue;
      prod.in.push_back(other);
      prod.out = add.out;
      def[size_t(add.out)] = p;
      drop[a] = true;
      break;
    }
  }
  std::vector<Step> steps;
  for (size_t i = 0; i < plan.steps.size(); i++) if (!drop[i]) steps.push_back(plan.steps[i]);
  plan.steps = std::move(steps);
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
  // read once per batch, not once per image). Running the last stages (7×7, 3×3) op by op on the
  // batch too was tried: 1.25 vs 1.12 ms/img at 112² b16, equal at 224² (interleaved, 2026-12-03);
  // instead they run on groups of images per thread (the tail, kTailPixels).
  if (!fusionOff()) chainSums(*plan);
  fusePepx(*plan);
  fuseAddEpilogues(*plan);
  plan->trunkEnd = plan->steps.size();
  for (size_t i = 0; i < plan->steps.size(); i++) {
    if (plan->steps[i].op == kDense) {
      plan->trunkEnd = i;
      break;
    }
  }
  plan->tailStart = plan->trunkEnd;
  while (plan->tailStart > 0) {
    const Val &in = plan->vals[size_t(plan->steps[plan->tailStart - 1].in[0])];
    if (in.h * in.w > kTailPixels) break;
    plan->tailStart--;
  }
  plan->batchVal.assign(size_t(nv), false);
  for (size_t i = 0; i < plan->steps.size(); i++) {
    const Step &s = plan->steps[i];
    // the head and the tail (whose groups of images need not be the images a thread ran before)
    if (i >= plan->tailStart) {
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
        // a batch slot reused by the trunk's tail holds values of one size only: image j of a value
        // is at j·size, and the tail's threads run their images at once, so a value of another size
        // would put one thread's images over another's not yet read (the head runs after them all)
        const bool exact = batchPass && i < plan->trunkEnd;
        int64_t best = -1;
        for (size_t k = 0; k < freeSlots.size(); k++) {
          const int64_t sl = freeSlots[k];
          const bool fits = exact ? slotPer[size_t(sl)] == need : slotPer[size_t(sl)] >= need;
          if (fits && (best < 0 || slotPer[size_t(sl)] < slotPer[size_t(freeSlots[size_t(best)])])) best = int64_t(k);
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

// COVIDNET_PLAN_PARALLEL=image|layer forces a mode (measurements); default: image-parallel when
// the batch keeps every thread busy.
bool imageParallel(int64_t batch, int threads) {
  const char *force = std::getenv("COVIDNET_PLAN_PARALLEL");
  if (force && std::strcmp(force, "layer") == 0) return false;
  if (force && std::strcmp(force, "image") == 0) return threads > 1;
  return threads > 1 && batch >= threads && (batch % threads == 0 || batch >= 4 * threads);
}

Config &configFor(Plan &plan, int64_t batch, bool &made) {
  const int threads = omp_get_max_threads();
  made = false;
  for (auto &c : plan.configs) {
    if (c->batch == batch && c->threads == threads) {
      c->lastUse = ++plan.clock;
      return *c;
    }
  }
  made = true;
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
  c->kernel.assign(plan.steps.size(), false);
  c->denseStream.assign(plan.steps.size(), false);
  for (size_t i = 0; i < plan.steps.size(); i++) {
    const Step &s = plan.steps[i];
    const Val &in = plan.vals[size_t(s.in[0])], &out = plan.vals[size_t(s.out)];
    const int64_t *p = s.p;
    const bool perImage = c->imagePar && i < plan.trunkEnd;
    const int64_t n = perImage ? 1 : batch;
    dims strides{p[2], p[3]}, padl{p[4], p[5]}, padr{p[6], p[7]};
    primitive_attr attr;
    attr.set_scratchpad_mode(scratchpad_mode::user);
    const Gemm gemm = s.op == kConv && isPointwise(s, in, out) ? gemmFor(in.c) : Gemm::kSgemm;
    if (gemm == Gemm::kKernel) {
      c->kernel[i] = true;
    } else if (s.op == kDense) {
      // the head runs on the whole batch (never inside the image-parallel region)
      c->denseStream[i] = p[0] != kSigmoid && gemmFor(in.per()) == Gemm::kKernel && denseStreamFits(batch);
    } else if (s.op == kConv && isPointwise(s, in, out) && gemm == Gemm::kMatmul) {
      const int64_t M = n * in.h * in.w;
      post_ops po;
      if (p[9]) po.append_eltwise(1.0f, algorithm::eltwise_relu, 0.0f, 0.0f);
      if (s.in.size() > 1) po.append_binary(algorithm::binary_add, memory::desc({M, out.c}, dt::f32, tag::ab));
      attr.set_post_ops(po);
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
  size_t pepxFloats = 0;
  for (const Pepx &px : plan.pepx) pepxFloats = std::max(pepxFloats, pepxScratchFloats(px.shape));
  if (c->imagePar) {
    const int64_t share = tailGroupImages(batch, threads);
    for (size_t i = plan.tailStart; i < plan.trunkEnd; i++) {
      const Step &s = plan.steps[i];
      if (s.op != kPepx) continue;
      const PepxShape &sh = plan.pepx[size_t(s.p[0])].shape;
      const int64_t g = std::min(share, tailGroup(plan.vals[size_t(s.in[0])]));
      if (g > 1 && pepxWholeImages(sh)) pepxFloats = std::max(pepxFloats, pepxImagesScratchFloats(sh, g));
    }
  }
  for (const Step &pw : plan.pointwisePool) {
    const Val &x = plan.vals[size_t(pw.in[0])], &y = plan.vals[size_t(pw.out)];
    pepxFloats = std::max(pepxFloats, pointwisePoolScratchFloats(x.h, x.w, x.c, y.c));
  }
  if (pepxFloats) c->pepxScratch.assign(size_t(threads), std::vector<float>(pepxFloats));
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

using Clock = std::chrono::steady_clock;

// Whether this run is a cold batch-1 run (`cold`), and whether it goes on the calling thread alone.
bool coldAlone(Plan &plan, int64_t batch, bool &cold) {
  cold = false;
  if (batch != 1 || omp_get_max_threads() < 2) return false;
  // since the last native call of any kind (training ops keep the worker awake as well)
  const int64_t last = gLastNativeEnd.load(std::memory_order_relaxed);
  const double gap = std::chrono::duration<double>(Clock::duration(steadyTicks() - last)).count();
  if (last != 0 && gap < kColdGapSeconds) return false;
  cold = true;
  ColdStats &s = plan.cold;
  const uint64_t k = s.runs++;
  const char *force = std::getenv("COVIDNET_PLAN_COLD");
  if (force && std::strcmp(force, "threads") == 0) return false;
  if (force && std::strcmp(force, "alone") == 0) return true;
  if (s.seen[0] == 0) return false;
  if (s.seen[1] == 0) return true;
  const bool alone = s.seconds[1] < s.seconds[0];
  return k % kColdExplore == 0 ? !alone : alone;
}

void coldRecord(ColdStats &s, bool alone, double seconds) {
  const int i = alone ? 1 : 0;
  s.seconds[i] = s.seen[i] ? 0.7 * s.seconds[i] + 0.3 * seconds : seconds;
  s.seen[i]++;
}

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
  const auto started = Clock::now();
  bool cold = false;
  std::optional<OneThread> alone;
  if (coldAlone(plan, batch, cold)) alone.emplace();
  bool made = false;
  Config &cfg = configFor(plan, batch, made);
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
  std::vector<std::vector<double>> stepSecs(size_t(lanes), std::vector<double>(plan.steps.size(), 0.0));
  if (plan.stepSeconds.size() != plan.steps.size()) {
    plan.stepSeconds.assign(plan.steps.size(), 0.0);
    plan.stepKind.assign(plan.steps.size(), kKindOther);
  }

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
        if (cfg.kernel[i]) {
          kind = kKindPointwise;
          const int64_t M = n * in.h * in.w;
          const float *addend = s.in.size() > 1 ? at(s.in[1]) : nullptr;
          if (seq) pointwiseKernel(M, in.c, out.c, x, w[size_t(p[10])], bias, y, p[9] != 0, addend);
          else pointwiseKernelParallel(M, in.c, out.c, x, w[size_t(p[10])], bias, y, p[9] != 0, addend);
          break;
        }
        if (cfg.mm[i]) {
          kind = kKindPointwise;
          MatmulPrim &mp = *cfg.mm[i];
          std::unique_ptr<OneThread> small(!seq && mp.oneThread ? new OneThread() : nullptr);
          std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(mp.src, eng(), const_cast<float *>(x))},
                                               {DNNL_ARG_WEIGHTS, memory(mp.wts, eng(), const_cast<float *>(w[size_t(p[10])]))},
                                               {DNNL_ARG_DST, memory(mp.dst, eng(), y)},
                                               {DNNL_ARG_SCRATCHPAD, memory(mp.pd.scratchpad_desc(), eng(), cfg.scratch[size_t(t)].data())}};
          if (bias) args.emplace(DNNL_ARG_BIAS, memory(mp.bias, eng(), const_cast<float *>(bias)));
          if (s.in.size() > 1) args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(p[9] ? 1 : 0) | DNNL_ARG_SRC_1, memory(mp.dst, eng(), at(s.in[1])));
          mp.prim.execute(st, args);
          st.wait();
          break;
        }
        if (isPointwise(s, in, out)) {
          kind = kKindPointwise;
          // the TF.js kernel [1,1,C,OC] is the GEMM's [K, N] as it is
          gemmBiasAct(n * in.h * in.w, in.c, out.c, x, w[size_t(p[10])], bias, y, p[9] ? kRelu : kLinear, seq);
          if (s.in.size() > 1) addN({y, at(s.in[1])}, y, n * out.per(), seq);
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
      case kPepx: {
        kind = kKindPepx;
        const Pepx &px = plan.pepx[size_t(p[0])];
        const PepxShape &sh = px.shape;
        auto wt = [&](const Step &part, int k) -> const float * { return part.p[k] >= 0 ? w[size_t(part.p[k])] : nullptr; };
        const PepxWeights pw{wt(px.part[0], 10), wt(px.part[0], 11), wt(px.part[1], 10), wt(px.part[1], 11), wt(px.part[2], 10),
                             wt(px.part[2], 11), wt(px.part[3], 10), wt(px.part[3], 11), wt(px.part[4], 10), wt(px.part[4], 11)};
        const int64_t inPer = in.per(), outPer = out.per();
        const float *addend = s.in.size() > 1 ? at(s.in[1]) : nullptr;
        if (seq && n > 1 && pepxWholeImages(sh)) {
          // a group of the tail's images: up to tailGroup at once (the scratch is sized for that)
          const int64_t g = tailGroup(in);
          for (int64_t j = 0; j < n; j += g) {
            pepxImages(sh, pw, x + j * inPer, y + j * outPer, addend ? addend + j * outPer : nullptr, std::min(g, n - j), cfg.pepxScratch[size_t(t)].data());
          }
          break;
        }
        if (seq) {
          for (int64_t j = 0; j < n; j++) pepxRows(sh, pw, x + j * inPer, y + j * outPer, addend ? addend + j * outPer : nullptr, 0, pepxRowsOut(sh), cfg.pepxScratch[size_t(t)].data());
          break;
        }
        // one image at a time, its rows in one band per thread (each band computes the two
        // expansion rows at its edges itself); small modules on this thread alone
        const int64_t unit = sh.pool ? 2 : 1, units = pepxRowsOut(sh) / unit;  // bands of whole pooled rows
        const int T = pepxMacsPerImage(sh) < kSmallMacs ? 1 : std::min<int>(omp_get_max_threads(), int(units));
        for (int64_t j = 0; j < n; j++) {
#pragma omp parallel for schedule(static) num_threads(T) if (T > 1)
          for (int b = 0; b < T; b++) {
            const int64_t h0 = unit * (units * b / T), h1 = unit * (units * (b + 1) / T);
            if (h1 > h0) pepxRows(sh, pw, x + j * inPer, y + j * outPer, addend ? addend + j * outPer : nullptr, h0, h1, cfg.pepxScratch[size_t(omp_get_thread_num())].data());
          }
        }
        break;
      }
      case kPointwisePool: {
        kind = kKindPointwisePool;
        const Step &cv = plan.pointwisePool[size_t(p[0])];
        const float *kw = w[size_t(cv.p[10])], *kb = cv.p[11] >= 0 ? w[size_t(cv.p[11])] : nullptr;
        const bool relu = cv.p[9] != 0;
        const int64_t inPer = in.per(), outPer = out.per(), units = in.h / 2;
        if (seq) {
          for (int64_t j = 0; j < n; j++) pointwisePoolRows(in.h, in.w, in.c, out.c, x + j * inPer, kw, kb, relu, y + j * outPer, 0, 2 * units, cfg.pepxScratch[size_t(t)].data());
          break;
        }
        const int T = double(in.h) * in.w * in.c * out.c < kSmallMacs ? 1 : std::min<int>(omp_get_max_threads(), int(units));
        for (int64_t j = 0; j < n; j++) {
#pragma omp parallel for schedule(static) num_threads(T) if (T > 1)
          for (int b = 0; b < T; b++) {
            const int64_t h0 = 2 * (units * b / T), h1 = 2 * (units * (b + 1) / T);
            if (h1 > h0) pointwisePoolRows(in.h, in.w, in.c, out.c, x + j * inPer, kw, kb, relu, y + j * outPer, h0, h1, cfg.pepxScratch[size_t(omp_get_thread_num())].data());
          }
        }
        break;
      }
      case kAdd: {
        std::vector<const float *> ins;
        for (int64_t v : s.in) ins.push_back(at(v));
        addN(ins, y, n * out.per(), seq);
        break;
      }
      case kDense:
        // few images against big weights: dense.cc's streaming product (decided with the
        // configuration: AVX-512 and COVIDNET_PLAN_GEMM not forcing oneDNN, as the pointwise convs)
        if (cfg.denseStream[i]) {
          denseStream(n, in.per(), out.c, x, w[size_t(p[1])], p[2] >= 0 ? w[size_t(p[2])] : nullptr, y, p[0] == kRelu);
          break;
        }
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
    const double dt = std::chrono::duration<double>(clk::now() - t0).count();
    secs[size_t(t)][size_t(kind)] += dt;
    stepSecs[size_t(t)][i] += dt;
    plan.stepKind[i] = kind;
  };

  plan.runs++;
  if (cfg.imagePar) {
    // each thread: whole images through the trunk (no exception may leave the region)
    RegionStatus status;
    const bool tail = plan.tailStart < plan.trunkEnd;
    const int64_t groupImages = tailGroupImages(batch, cfg.threads);
    // images through the trunk before its tail (set even when a step failed: nobody waits forever)
    std::unique_ptr<std::atomic<bool>[]> ready(new std::atomic<bool>[size_t(batch)]);
    for (int64_t j = 0; j < batch; j++) ready[size_t(j)].store(false, std::memory_order_relaxed);
    std::atomic<int64_t> nextGroup{0};
#pragma omp parallel num_threads(cfg.threads)
    {
      const int t = omp_get_thread_num();
      // dynamic: on a VM one vCPU is often slower for a while, and whole images move to the other
#pragma omp for schedule(dynamic, 1) nowait
      for (int64_t img = 0; img < batch; img++) {
        status.guard([&] {
          for (size_t i = 0; i < plan.tailStart; i++) runStep(i, 1, img, t, true);
        });
        ready[size_t(img)].store(true, std::memory_order_release);
      }
      // the tail, group by group in image order (the images are taken in that order above, so the
      // next group is the first to be ready); steps whose oneDNN primitive was made for one image
      // run image by image
      while (tail) {
        const int64_t i0 = groupImages * nextGroup.fetch_add(1, std::memory_order_relaxed);
        if (i0 >= batch) break;
        const int64_t i1 = std::min(batch, i0 + groupImages);
        for (int64_t j = i0; j < i1; j++) {
          while (!ready[size_t(j)].load(std::memory_order_acquire)) _mm_pause();
        }
        status.guard([&] {
          for (size_t i = plan.tailStart; i < plan.trunkEnd; i++) {
            if (cfg.conv[i] || cfg.mm[i] || cfg.pool[i]) {
              for (int64_t img = i0; img < i1; img++) runStep(i, 1, img, t, true);
            } else {
              runStep(i, i1 - i0, i0, t, true);
            }
          }
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
  for (size_t i = 0; i < plan.steps.size(); i++) {
    double sum = 0;
    for (auto &l : stepSecs) sum += l[i];
    plan.stepSeconds[i] += i < plan.trunkEnd && cfg.imagePar ? sum / lanes : sum;
  }
  // a run that made its primitives says nothing of the steady cost
  if (cold && !made) coldRecord(plan.cold, alone.has_value(), std::chrono::duration<double>(Clock::now() - started).count());
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
    o.Set("fusedPepx", Napi::Number::New(info.Env(), double(h.plan->pepx.size())));
    o.Set("tailSteps", Napi::Number::New(info.Env(), double(h.plan->trunkEnd - h.plan->tailStart)));
    o.Set("values", Napi::Number::New(info.Env(), double(h.plan->vals.size())));
    o.Set("slots", Napi::Number::New(info.Env(), double(h.plan->slotPerT.size() + h.plan->slotPerB.size())));
    o.Set("floatsPerImage", Napi::Number::New(info.Env(), double(floats)));
    o.Set("runs", Napi::Number::New(info.Env(), double(h.plan->runs)));
    // cold batch-1 runs (coldAlone): how many, and each way's mean milliseconds (0: not measured yet)
    const ColdStats &cs = h.plan->cold;
    Napi::Object cold = Napi::Object::New(info.Env());
    cold.Set("runs", Napi::Number::New(info.Env(), double(cs.runs)));
    cold.Set("threadsMs", Napi::Number::New(info.Env(), cs.seen[0] ? cs.seconds[0] * 1e3 : 0.0));
    cold.Set("aloneMs", Napi::Number::New(info.Env(), cs.seen[1] ? cs.seconds[1] * 1e3 : 0.0));
    o.Set("cold", cold);
    Napi::Object ms = Napi::Object::New(info.Env());
    for (int k = 0; k < kKinds; k++) ms.Set(kKindNames[k], Napi::Number::New(info.Env(), h.plan->seconds[k] * 1e3));
    o.Set("msByKind", ms);
    // per op: its kind, input → output shape (per image), and milliseconds over all runs
    Napi::Array steps = Napi::Array::New(info.Env(), h.plan->steps.size());
    for (size_t i = 0; i < h.plan->steps.size(); i++) {
      const Step &st = h.plan->steps[i];
      const auto shape = [&](int64_t v) {
        const Val &x = h.plan->vals[size_t(v)];
        return std::to_string(x.h) + "x" + std::to_string(x.w) + "x" + std::to_string(x.c);
      };
      Napi::Object so = Napi::Object::New(info.Env());
      const bool ran = i < h.plan->stepKind.size();
      so.Set("kind", Napi::String::New(info.Env(), ran ? kKindNames[h.plan->stepKind[i]] : "?"));
      so.Set("shape", Napi::String::New(info.Env(), shape(st.in[0]) + (st.in.size() > 1 ? " (×" + std::to_string(st.in.size()) + ")" : "") + " -> " + shape(st.out)));
      so.Set("ms", Napi::Number::New(info.Env(), ran ? h.plan->stepSeconds[i] * 1e3 : 0.0));
      steps.Set(uint32_t(i), so);
    }
    o.Set("steps", steps);
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
