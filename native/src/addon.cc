// covidnet oneDNN addon: the hot TF.js kernels (convolutions, pooling, matmul, elementwise,
// reductions, Adam) on oneDNN 2.6 / OpenMP, and the data pipeline's image kernels. All tensors
// are the cpu backend's Float32Arrays, used in place (activations NHWC, weights in TF.js layout
// described with explicit strides). Primitives are cached per shape; oneDNN picks the ISA at run
// time (no -march flags needed).
//
// One file per primitive (conv.cc, pool.cc, matmul.cc, elementwise.cc, optimizer.cc,
// image_ops.cc, jpeg_ops.cc; the plan's own kernels pointwise.cc and pepx.cc), all behind the checked boundary of common.h; this file registers
// them and holds the process-wide settings (threads, version, cache release).
#include "common.h"

namespace covidnet {
namespace {

// setThreads(n): n in [1, 256]; returns the thread count now in effect.
Napi::Value SetThreads(const Napi::CallbackInfo &info) {
  Args a(info, "setThreads");
  const int n = int(a.integer(0, "threads", 1, kMaxThreads));
  omp_set_num_threads(n);
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

Napi::Value CpuFeatures(const Napi::CallbackInfo &info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("avx512f", Napi::Boolean::New(info.Env(), pointwiseKernelAvailable()));
  return o;
}

// Drop cached primitives and scratch (tests; frees memory after a run with many shapes).
Napi::Value ClearCache(const Napi::CallbackInfo &info) {
  ClearConvCache();
  ClearPoolCache();
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  RegisterConv(env, exports);
  RegisterPool(env, exports);
  RegisterMatMul(env, exports);
  RegisterElementwise(env, exports);
  RegisterOptimizer(env, exports);
  Export<SetThreads>(env, exports, "setThreads");
  Export<GetThreads>(env, exports, "getThreads");
  Export<Version>(env, exports, "version");
  Export<CpuFeatures>(env, exports, "cpuFeatures");
  Export<ClearCache>(env, exports, "clearCache");
  RegisterImageOps(env, exports);
  RegisterPlan(env, exports);
#ifdef COVIDNET_JPEG
  RegisterJpegOps(env, exports);
#endif
  return exports;
}

}  // namespace
}  // namespace covidnet

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return covidnet::Init(env, exports); }

NODE_API_MODULE(covidnet_onednn, InitAddon)
