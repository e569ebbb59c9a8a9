// Batched matrix products on oneDNN's sgemm, with the fused bias + ReLU of _FusedMatMul.
#include "common.h"

namespace covidnet {
namespace {

// matmul(a, b, c, bias|null, [batchA, batchB, M, K, N, transA, transB, relu])
// Row-major C[M,N] = op(A) op(B) (+ bias[N]) (relu); batches broadcast when one side has 1.
Napi::Value MatMul(const Napi::CallbackInfo &info) {
  Args args(info, "matmul");
  auto p = args.params(4, "params", 8);
  const int64_t bA = args.dim(p, 0, "batchA", 1), bB = args.dim(p, 1, "batchB", 1);
  const int64_t M = args.dim(p, 2, "M", 1), K = args.dim(p, 3, "K", 1), N = args.dim(p, 4, "N", 1);
  const bool tA = args.dim(p, 5, "transposeA", 0, 1), tB = args.dim(p, 6, "transposeB", 0, 1);
  const bool relu = args.dim(p, 7, "relu", 0, 1);
  COVIDNET_CHECK(args, bA == bB || bA == 1 || bB == 1, "params[1] (batchB)", "batchA (" + std::to_string(bA) + ") or 1 when batchA is not 1",
             std::to_string(bB));
  const int64_t batch = std::max(bA, bB);
  const float *a = args.f32(0, "a", args.product("a batchA·M·K", {bA, M, K}));
  const float *b = args.f32(1, "b", args.product("b batchB·K·N", {bB, K, N}));
  float *c = args.f32(2, "c", args.product("c batch·M·N", {batch, M, N}));
  const float *bias = args.f32OrNull(3, "bias", N);
  args.product("work batch·M·N·K", {batch, M, N, K});
  MaybeOneThread small(double(batch) * M * N * K);
  for (int64_t i = 0; i < batch; i++) {
    const float *ai = a + (bA == 1 ? 0 : i) * M * K;
    const float *bi = b + (bB == 1 ? 0 : i) * K * N;
    float *ci = c + i * M * N;
    auto st = dnnl_sgemm(tA ? 'T' : 'N', tB ? 'T' : 'N', M, N, K, 1.0f, ai, tA ? M : K, bi, tB ? K : N, 0.0f, ci, N);
    if (st != dnnl_success) throw dnnl::error(st, "matmul: dnnl_sgemm failed");
  }
  if (bias || relu) {
    const int64_t rows = batch * M;
#pragma omp parallel for schedule(static) if (rows * N > 32768)
    for (int64_t r = 0; r < rows; r++) biasReluRows(c, r, r + 1, N, bias, relu);
  }
  return info.Env().Undefined();
}

}  // namespace

void RegisterMatMul(Napi::Env env, Napi::Object exports) { Export<MatMul>(env, exports, "matmul"); }

}  // namespace covidnet
