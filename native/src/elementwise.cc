// Elementwise kernels and reductions: binary ops with the broadcasts TF.js models use, unary ops,
// AddN, and sums over leading or trailing axes (accumulated in doubles, thread-count independent).
#include "common.h"

namespace covidnet {
namespace {

// binary(op, a, b, out, mode, inner): op 0 add, 1 sub, 2 mul, 3 div; mode 0 same shape, 1 b scalar,
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
  Args args(info, "binary");
  const int op = int(args.integer(0, "op", 0, 3));
  const int mode = int(args.integer(4, "mode", 0, 4));
  const int64_t n = args.f32Any(3, "out").length;
  COVIDNET_CHECK(args, n >= 1, "out", "a Float32Array of at least 1 element", describe(info[3]));
  float *o = args.f32(3, "out", n);
  // inner: the last axis (modes 3 and 4 broadcast over it); it must divide the output.
  const int64_t inner = args.integer(5, "inner", 1, n);
  if (mode >= 3) COVIDNET_CHECK(args, n % inner == 0, "inner", "a divisor of out.length (" + std::to_string(n) + ")", std::to_string(inner));
  const int64_t aLen = mode == 2 ? 1 : mode == 4 ? inner : n;
  const int64_t bLen = mode == 1 ? 1 : mode == 3 ? inner : n;
  const float *a = args.f32(1, "a", aLen), *b = args.f32(2, "b", bLen);
  switch (op) {
    case 0: binaryLoop([](float x, float y) { return x + y; }, a, b, o, n, mode, inner); break;
    case 1: binaryLoop([](float x, float y) { return x - y; }, a, b, o, n, mode, inner); break;
    case 2: binaryLoop([](float x, float y) { return x * y; }, a, b, o, n, mode, inner); break;
    case 3: binaryLoop([](float x, float y) { return x / y; }, a, b, o, n, mode, inner); break;
  }
  return info.Env().Undefined();
}

// unary(op, x, out, alpha): 0 relu, 1 step (TF.js: x > 0 ? 1 : alpha, NaN stays NaN), 2 square, 3 neg
Napi::Value Unary(const Napi::CallbackInfo &info) {
  Args args(info, "unary");
  const int op = int(args.integer(0, "op", 0, 3));
  const int64_t n = args.f32Any(2, "out").length;
  COVIDNET_CHECK(args, n >= 1, "out", "a Float32Array of at least 1 element", describe(info[2]));
  float *o = args.f32(2, "out", n);
  const float *x = args.f32(1, "x", n);
  const float alpha = float(args.number(3, "alpha"));
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
  }
  return info.Env().Undefined();
}

// addN([arrays], out): out = in[0] + in[1] + … (left to right)
Napi::Value AddN(const Napi::CallbackInfo &info) {
  Args args(info, "addN");
  auto list = args.array(0, "inputs");
  const int64_t n = args.f32Any(1, "out").length;
  COVIDNET_CHECK(args, n >= 1, "out", "a Float32Array of at least 1 element", describe(info[1]));
  float *o = args.f32(1, "out", n);
  COVIDNET_CHECK(args, list.Length() >= 1, "inputs", "an array of at least 1 Float32Array", describe(list));
  std::vector<const float *> in(list.Length());
  for (uint32_t i = 0; i < list.Length(); i++) in[i] = args.f32In(list.Get(i), ("inputs[" + std::to_string(i) + "]").c_str(), n);
  const size_t k = in.size();
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; i++) {
    float s = in[0][i];
    for (size_t j = 1; j < k; j++) s += in[j][i];
    o[i] = s;
  }
  return info.Env().Undefined();
}

// rows and cols with rows · cols = x.length.
void reduceShape(const Args &args, const Napi::CallbackInfo &info, int64_t &rows, int64_t &cols) {
  const int64_t n = args.f32Any(0, "x").length;
  COVIDNET_CHECK(args, n >= 1, "x", "a Float32Array of at least 1 element", describe(info[0]));
  rows = args.integer(2, "rows", 1, n);
  cols = args.integer(3, "cols", 1, n);
  COVIDNET_CHECK(args, n % rows == 0 && n / rows == cols, "rows × cols", "x.length = " + std::to_string(n),
             std::to_string(rows) + " × " + std::to_string(cols));
}

// sumOuter(x, out, rows, cols): out[c] = sum_r x[r*cols + c] (reduce the leading axes).
// sumInner(x, out, rows, cols): out[r] = sum_c x[r*cols + c] (reduce the trailing axes).
// Accumulates in double per lane so the result does not depend on the thread count.
Napi::Value SumOuter(const Napi::CallbackInfo &info) {
  Args args(info, "sumOuter");
  int64_t rows, cols;
  reduceShape(args, info, rows, cols);
  const float *x = args.f32(0, "x", rows * cols);
  float *o = args.f32(1, "out", cols);
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
  Args args(info, "sumInner");
  int64_t rows, cols;
  reduceShape(args, info, rows, cols);
  const float *x = args.f32(0, "x", rows * cols);
  float *o = args.f32(1, "out", rows);
#pragma omp parallel for schedule(static) if (rows * cols > kParallelMin)
  for (int64_t r = 0; r < rows; r++) {
    double s = 0;
    const float *row = x + r * cols;
    for (int64_t c = 0; c < cols; c++) s += row[c];
    o[r] = float(s);
  }
  return info.Env().Undefined();
}

}  // namespace

void RegisterElementwise(Napi::Env env, Napi::Object exports) {
  Export<Binary>(env, exports, "binary");
  Export<Unary>(env, exports, "unary");
  Export<AddN>(env, exports, "addN");
  Export<SumOuter>(env, exports, "sumOuter");
  Export<SumInner>(env, exports, "sumInner");
}

}  // namespace covidnet
