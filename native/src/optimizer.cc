// The Adam update of TF.js's AdamOptimizer, in place, one pass per variable.
#include "common.h"

namespace covidnet {
namespace {

// adam(param, grad, m, v, [lr, beta1, beta2, eps, 1 - beta1^t, 1 - beta2^t]): in place, TF.js's formula.
Napi::Value Adam(const Napi::CallbackInfo &info) {
  Args a(info, "adam");
  const int64_t n = a.f32Any(0, "param").length;
  COVIDNET_CHECK(a, n >= 1, "param", "a Float32Array of at least 1 element", describe(info[0]));
  float *w = a.f32(0, "param", n), *m = a.f32(2, "m", n), *v = a.f32(3, "v", n);
  const float *g = a.f32(1, "grad", n);
  auto h = a.f64(4, "hyper", 6);
  const float lr = h[0], b1 = h[1], b2 = h[2], eps = h[3], c1 = h[4], c2 = h[5];
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

}  // namespace

void RegisterOptimizer(Napi::Env env, Napi::Object exports) { Export<Adam>(env, exports, "adam"); }

}  // namespace covidnet
