// Shared by the addon's primitive files (conv.cc, pool.cc, matmul.cc, elementwise.cc,
// optimizer.cc, image_ops.cc, jpeg_ops.cc, plan.cc) and the registration in addon.cc.
//
// The boundary: every entry point validates its arguments (types, buffer lengths against the
// dimensions, every dimension and flag) before any kernel runs, and a bad argument becomes a JS
// TypeError / RangeError with `code` E_NATIVE_ARG that names the function, the parameter, what was
// expected and what was given. Nothing may throw inside an OpenMP region (an exception escaping one
// terminates the process): failures there are recorded in a RegionStatus and thrown after it.
// Other failures reach JS through Guard: oneDNN errors as E_NATIVE_ONEDNN, allocation failures as
// E_NATIVE_MEMORY, anything else as E_NATIVE.
#pragma once

#include "kernels.h"

#include <napi.h>
#include <omp.h>
#include <pthread.h>

#include <csignal>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <dnnl.hpp>
#include <initializer_list>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace covidnet {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;
using dims = dnnl::memory::dims;

// One engine and stream for the whole addon (inline: one instance across the files).
inline dnnl::engine &eng() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}
inline dnnl::stream &strm() {
  static dnnl::stream s(eng());
  return s;
}

// The thread limit of setThreads (and of resolveThreads in src/backend/index.ts).
constexpr int kMaxThreads = 256;
// Largest element count a shape may describe (far above any real buffer; keeps products exact).
constexpr int64_t kMaxElements = int64_t(1) << 48;
// Largest scratch buffer (floats) a kernel may ask for: 16 GiB.
constexpr size_t kMaxScratch = size_t(1) << 32;

// ------------------------------------------------------------------------- argument checking

constexpr const char *kArgCode = "E_NATIVE_ARG";

[[noreturn]] inline void throwWithCode(Napi::Error e, const char *code) {
  e.Set("code", Napi::String::New(e.Env(), code));
  throw e;
}

/** A bad argument: TypeError (wrong type) or RangeError (bad size or value), code E_NATIVE_ARG. */
[[noreturn]] inline void throwArg(Napi::Env env, bool typeError, const std::string &msg) {
  if (typeError) throwWithCode(Napi::TypeError::New(env, msg), kArgCode);
  throwWithCode(Napi::RangeError::New(env, msg), kArgCode);
}

inline const char *typedArrayName(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array: return "Int8Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_uint8_clamped_array: return "Uint8ClampedArray";
    case napi_int16_array: return "Int16Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int32_array: return "Int32Array";
    case napi_uint32_array: return "Uint32Array";
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    case napi_bigint64_array: return "BigInt64Array";
    case napi_biguint64_array: return "BigUint64Array";
    default: return "typed array";
  }
}

/** What a value is, for messages: "undefined", "a number (3.5)", "an Int32Array of 4 elements". */
inline std::string describe(const Napi::Value &v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? "true" : "false";
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (std::isnan(d)) return "NaN";
    char buf[64];
    snprintf(buf, sizeof buf, "%.17g", d);
    return std::string("the number ") + buf;
  }
  if (v.IsString()) return "a string";
  if (v.IsTypedArray()) {
    auto a = v.As<Napi::TypedArray>();
    const char *name = typedArrayName(a.TypedArrayType());
    const char *article = (name[0] == 'I' || name[0] == 'U') ? "an " : "a ";
    return std::string(article) + name + " of " + std::to_string(a.ElementLength()) + " elements";
  }
  if (v.IsArrayBuffer()) return "an ArrayBuffer of " + std::to_string(v.As<Napi::ArrayBuffer>().ByteLength()) + " bytes";
  if (v.IsArray()) return "an array of " + std::to_string(v.As<Napi::Array>().Length()) + " elements";
  if (v.IsFunction()) return "a function";
  return "an object";
}

/** a · b · … with overflow checked against kMaxElements (RangeError naming what was computed). */
inline int64_t checkedProduct(Napi::Env env, const char *fn, const char *what, std::initializer_list<int64_t> factors) {
  __int128 p = 1;
  for (int64_t f : factors) {
    p *= f;
    if (p > kMaxElements || p < -kMaxElements) {
      std::string got;
      for (int64_t g : factors) got += (got.empty() ? "" : " × ") + std::to_string(g);
      throwArg(env, false, std::string(fn) + ": " + what + ": expected at most 2^48 elements, got " + got);
    }
  }
  return int64_t(p);
}

// A consistency rule between arguments; the message parts are only built when it fails.
#define COVIDNET_CHECK(args, ok, param, expected, actual) \
  do {                                                    \
    if (!(ok)) (args).fail(false, param, expected, actual); \
  } while (0)

/** The arguments of one entry point, checked one by one; every error names `fn` and the parameter. */
class Args {
 public:
  Args(const Napi::CallbackInfo &info, const char *fn) : info_(info), fn_(fn) {}

  Napi::Env env() const { return info_.Env(); }
  const char *fn() const { return fn_; }

  [[noreturn]] void fail(bool typeError, const std::string &param, const std::string &expected,
                         const std::string &actual) const {
    throwArg(env(), typeError, std::string(fn_) + ": " + param + ": expected " + expected + ", got " + actual);
  }

  /** A Float32Array's elements (one N-API query: type, length and data together). */
  struct F32 {
    float *data;
    int64_t length;
  };

  /** A Float32Array of exactly `need` elements. */
  float *f32(size_t i, const char *name, int64_t need) const { return f32In(info_[i], name, need); }

  /** null / undefined (→ nullptr) or a Float32Array of exactly `need` elements. */
  float *f32OrNull(size_t i, const char *name, int64_t need) const {
    const Napi::Value v = info_[i];
    if (v.IsNull() || v.IsUndefined()) return nullptr;
    return f32In(v, name, need);
  }

  /** A Float32Array of any length (its length is then checked by the caller). */
  F32 f32Any(size_t i, const char *name) const { return f32View(info_[i], name); }

  float *f32In(const Napi::Value &v, const char *name, int64_t need) const {
    const F32 a = f32View(v, name);
    if (a.length != need) fail(false, name, "a Float32Array of " + std::to_string(need) + " elements", describe(v));
    return a.data;
  }

  F32 f32View(const Napi::Value &v, const char *name) const {
    bool isTypedArray = false;
    napi_typedarray_type type = napi_int8_array;
    size_t length = 0;
    void *data = nullptr;
    if (napi_is_typedarray(env(), v, &isTypedArray) != napi_ok || !isTypedArray ||
        napi_get_typedarray_info(env(), v, &type, &length, &data, nullptr, nullptr) != napi_ok || type != napi_float32_array) {
      fail(true, name, "a Float32Array", describe(v));
    }
    return {static_cast<float *>(data), int64_t(length)};
  }

  /** A Float64Array of exactly `need` elements. */
  Napi::Float64Array f64(size_t i, const char *name, size_t need) const {
    const Napi::Value v = info_[i];
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
      fail(true, name, "a Float64Array of " + std::to_string(need) + " elements", describe(v));
    }
    auto a = v.As<Napi::Float64Array>();
    if (a.ElementLength() != need) fail(false, name, "a Float64Array of " + std::to_string(need) + " elements", describe(v));
    return a;
  }

  /** An Int32Array of exactly `count` parameters, widened. */
  std::vector<int64_t> params(size_t i, const char *name, size_t count) const {
    const Napi::Value v = info_[i];
    auto want = [count] { return "an Int32Array of " + std::to_string(count) + " parameters"; };
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) fail(true, name, want(), describe(v));
    auto a = v.As<Napi::Int32Array>();
    if (a.ElementLength() != count) fail(false, name, want(), describe(v));
    std::vector<int64_t> out(count);
    const int32_t *d = a.Data();
    for (size_t k = 0; k < count; k++) out[k] = d[k];
    return out;
  }

  /** An Int32Array of any length, widened (its length is then checked by the caller). */
  std::vector<int64_t> i32Any(size_t i, const char *name) const {
    const Napi::Value v = info_[i];
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) fail(true, name, "an Int32Array", describe(v));
    auto a = v.As<Napi::Int32Array>();
    const int32_t *d = a.Data();
    return std::vector<int64_t>(d, d + a.ElementLength());
  }

  /** A number that is an integer in [lo, hi]. */
  int64_t integer(size_t i, const char *name, int64_t lo, int64_t hi) const {
    const Napi::Value v = info_[i];
    auto want = [lo, hi] { return "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]"; };
    if (!v.IsNumber()) fail(true, name, want(), describe(v));
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= double(lo) && d <= double(hi)) || d != std::floor(d)) fail(false, name, want(), describe(v));
    return int64_t(d);
  }

  /** Any number (NaN and infinities included: they are values, as in TF.js). */
  double number(size_t i, const char *name) const {
    const Napi::Value v = info_[i];
    if (!v.IsNumber()) fail(true, name, "a number", describe(v));
    return v.As<Napi::Number>().DoubleValue();
  }

  bool boolean(size_t i, const char *name) const {
    const Napi::Value v = info_[i];
    if (!v.IsBoolean()) fail(true, name, "a boolean", describe(v));
    return v.As<Napi::Boolean>().Value();
  }

  Napi::Array array(size_t i, const char *name) const {
    const Napi::Value v = info_[i];
    if (!v.IsArray()) fail(true, name, "an array", describe(v));
    return v.As<Napi::Array>();
  }

  Napi::ArrayBuffer arrayBuffer(size_t i, const char *name) const {
    const Napi::Value v = info_[i];
    if (!v.IsArrayBuffer()) fail(true, name, "an ArrayBuffer", describe(v));
    return v.As<Napi::ArrayBuffer>();
  }

  /** p[k] (a dimension named `name`) in [lo, hi]. */
  int64_t dim(const std::vector<int64_t> &p, size_t k, const char *name, int64_t lo,
              int64_t hi = std::numeric_limits<int32_t>::max()) const {
    const int64_t v = p[k];
    if (v < lo || v > hi) {
      fail(false, std::string("params[") + std::to_string(k) + "] (" + name + ")",
           hi == std::numeric_limits<int32_t>::max() ? "at least " + std::to_string(lo)
                                                     : "a value in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]",
           std::to_string(v));
    }
    return v;
  }

  int64_t product(const char *what, std::initializer_list<int64_t> factors) const {
    return checkedProduct(env(), fn_, what, factors);
  }

 private:
  const Napi::CallbackInfo &info_;
  const char *fn_;
};

// ------------------------------------------------------------------------- kernels' helpers

// Scratch buffers reused across calls (grow only): avoids page-faulting fresh memory each step.
struct Scratch {
  std::vector<float> buf;
  float *get(size_t n) {
    if (n > kMaxScratch) throw std::length_error("scratch buffer of " + std::to_string(n) + " floats refused");
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
constexpr int64_t kParallelMin = 1 << 16;  // elements for memory-bound loops

struct MaybeOneThread {
  std::unique_ptr<OneThread> guard;
  explicit MaybeOneThread(double work, double threshold = kSmallMacs) {
    if (work < threshold && omp_get_max_threads() > 1) guard.reset(new OneThread());
  }
};

inline std::string keyOf(const char *kind, const std::vector<int64_t> &p) {
  std::string k(kind);
  for (auto v : p) {
    k += ',';
    k += std::to_string(v);
  }
  return k;
}

// Failures inside an OpenMP region: recorded (the first one is kept) and thrown by check() after
// the region, since an exception escaping a parallel region terminates the process.
class RegionStatus {
 public:
  void record(dnnl_status_t s) noexcept {
    if (s == dnnl_success) return;
    int expected = dnnl_success;
    status_.compare_exchange_strong(expected, int(s));
  }
  /** Runs f, turning any exception into a recorded failure (for code that might throw). */
  template <typename F>
  void guard(F &&f) noexcept {
    try {
      f();
    } catch (...) {
      record(dnnl_runtime_error);
    }
  }
  void check(const char *what) const {
    const int s = status_.load();
    if (s != dnnl_success) throw dnnl::error(dnnl_status_t(s), what);
  }

 private:
  std::atomic<int> status_{dnnl_success};
};

// C = op(A) op(B) (+ beta C), row major. Outside OpenMP regions.
inline void sgemm(char ta, char tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
                  int64_t ldb, float beta, float *C, int64_t ldc) {
  const dnnl_status_t s = dnnl_sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
  if (s != dnnl_success) throw dnnl::error(s, "dnnl_sgemm failed");
}

// The same inside an OpenMP region: never throws, records a failure in `st`.
inline void sgemmIn(RegionStatus &st, char ta, char tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                    const float *B, int64_t ldb, float beta, float *C, int64_t ldc) noexcept {
  st.record(dnnl_sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc));
}

// rows [r0, r1) of y[·, N] += b (when given), then ReLU (when asked): the epilogue of every GEMM
// that oneDNN's sgemm cannot fuse (pointwise convolutions, dense layers, the plan's GEMMs), applied
// while the rows are in cache. Safe inside OpenMP regions.
inline void biasReluRows(float *y, int64_t r0, int64_t r1, int64_t N, const float *b, bool relu) noexcept {
  if (!b && !relu) return;
  for (int64_t r = r0; r < r1; r++) {
    float *row = y + r * N;
#pragma omp simd
    for (int64_t j = 0; j < N; j++) {
      float v = row[j] + (b ? b[j] : 0.f);
      row[j] = relu && v < 0.f ? 0.f : v;
    }
  }
}

// ------------------------------------------------------------------------- registration

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

using Kernel = Napi::Value (*)(const Napi::CallbackInfo &);

// When the last native call returned (steady clock ticks; 0: none yet). Each may have run an
// OpenMP region, after which the worker spins a while and then sleeps: the plan's batch-1 runs
// read it to tell a pause (plan.cc coldAlone).
inline std::atomic<int64_t> gLastNativeEnd{0};
inline int64_t steadyTicks() { return int64_t(std::chrono::steady_clock::now().time_since_epoch().count()); }
struct StampNativeEnd {
  ~StampNativeEnd() { gLastNativeEnd.store(steadyTicks(), std::memory_order_relaxed); }
};

// An entry point: profiling signals held back; JS errors (the argument checks) pass through as
// they are, C++ errors become JS errors with a code.
template <Kernel F>
Napi::Value Guard(const Napi::CallbackInfo &info) {
  HoldProfilingSignals hold;
  StampNativeEnd stamp;
  try {
    return F(info);
  } catch (const Napi::Error &) {
    throw;
  } catch (const dnnl::error &e) {
    throwWithCode(Napi::Error::New(info.Env(), std::string("oneDNN: ") + e.what()), "E_NATIVE_ONEDNN");
  } catch (const std::bad_alloc &) {
    throwWithCode(Napi::Error::New(info.Env(), "native kernel: out of memory"), "E_NATIVE_MEMORY");
  } catch (const std::length_error &e) {
    throwWithCode(Napi::RangeError::New(info.Env(), std::string("native kernel: ") + e.what()), "E_NATIVE_MEMORY");
  } catch (const std::exception &e) {
    throwWithCode(Napi::Error::New(info.Env(), e.what()), "E_NATIVE");
  }
}

template <Kernel F>
void Export(Napi::Env env, Napi::Object exports, const char *name) {
  exports.Set(name, Napi::Function::New<Guard<F>>(env, name));
}

// Per-primitive registration and cache release (each file's own caches).
void RegisterConv(Napi::Env env, Napi::Object exports);
void RegisterPool(Napi::Env env, Napi::Object exports);
void RegisterMatMul(Napi::Env env, Napi::Object exports);
void RegisterElementwise(Napi::Env env, Napi::Object exports);
void RegisterOptimizer(Napi::Env env, Napi::Object exports);
void RegisterImageOps(Napi::Env env, Napi::Object exports);
void RegisterPlan(Napi::Env env, Napi::Object exports);
#ifdef COVIDNET_JPEG
void RegisterJpegOps(Napi::Env env, Napi::Object exports);
#endif
void ClearConvCache();
void ClearPoolCache();

}  // namespace covidnet
