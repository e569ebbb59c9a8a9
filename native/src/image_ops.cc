// Image kernels of the data pipeline (src/data): the inner loops of INTER_AREA resizing and of the
// PNG fast path. Optional: src/data falls back to the same loops in TypeScript when the addon is
// not built, and the results are bit-identical (the arithmetic below mirrors the JS one: doubles
// where JS computes in doubles, floats where JS stores into Float32Arrays).
#include "common.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace covidnet {
namespace {

template <typename T>
constexpr napi_typedarray_type kArrayType = std::is_same<T, float>::value     ? napi_float32_array
                                            : std::is_same<T, int32_t>::value ? napi_int32_array
                                                                              : napi_uint8_array;

// A typed array of T with at least `need` elements (E_NATIVE_ARG otherwise).
template <typename T>
T* Data(const Args& args, const Napi::Value& v, size_t need, const char* name) {
  const char* type = typedArrayName(kArrayType<T>);
  const std::string want = std::string(type[0] == 'I' || type[0] == 'U' ? "an " : "a ") + type + " of at least " +
                           std::to_string(need) + " elements";
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != kArrayType<T>) args.fail(true, name, want, describe(v));
  auto a = v.As<Napi::TypedArray>();
  if (a.ElementLength() < need) args.fail(false, name, want, describe(v));
  return reinterpret_cast<T*>(static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset());
}

int Int(const Args& args, size_t i, const char* name) {
  return int(args.integer(i, name, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()));
}

// One source row's horizontal taps with the tap count fixed at compile time (unrolled); the sum is
// accumulated in the same order as the JS loop.
template <int K>
void HorizontalRow(const double* row, const int32_t* x0, const float* xa, int outW, float* o) {
  for (int dx = 0; dx < outW; dx++) {
    const double* p = row + x0[dx];
    const float* a = xa + size_t(dx) * K;
    double sum = 0;
    for (int t = 0; t < K; t++) sum += p[t] * double(a[t]);
    o[dx] = float(sum);
  }
}

// areaGeneral of src/data/resize.ts: horizontal taps (K consecutive pixels from x0[dx], weights
// xa[dx*K + t]) over every source row, then the vertical taps (yStart/yIdx/yAlpha), rounding half
// to even and clamping to [0, 255].
// args: src, w, h, outW, outH, x0, xa, K, yStart, yIdx, yAlpha, out
Napi::Value ResizeAreaU8(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args args(info, "resizeAreaU8");
  const int w = Int(args, 1, "w"), h = Int(args, 2, "h"), outW = Int(args, 3, "outW"), outH = Int(args, 4, "outH");
  const int K = Int(args, 7, "K");
  COVIDNET_CHECK(args, w >= 1 && h >= 1 && outW >= 1 && outH >= 1, "w, h, outW, outH", "sizes of at least 1",
             std::to_string(w) + ", " + std::to_string(h) + ", " + std::to_string(outW) + ", " + std::to_string(outH));
  COVIDNET_CHECK(args, K >= 1 && K <= w, "K", "a tap count in [1, w = " + std::to_string(w) + "]", std::to_string(K));
  const uint8_t* src = Data<uint8_t>(args, info[0], size_t(w) * h, "src");
  const int32_t* x0 = Data<int32_t>(args, info[5], outW, "x0");
  const float* xa = Data<float>(args, info[6], size_t(outW) * K, "xa");
  const int32_t* ys = Data<int32_t>(args, info[8], size_t(outH) + 1, "yStart");
  // yStart: from 0, never decreasing (row dy's taps are yStart[dy] .. yStart[dy + 1])
  for (int dy = 0; dy < outH; dy++) {
    if (ys[0] != 0 || ys[dy + 1] < ys[dy]) args.fail(false, "yStart", "offsets from 0 that never decrease", "a decreasing offset at " + std::to_string(dy));
  }
  const size_t taps = size_t(ys[outH]);
  const int32_t* yi = Data<int32_t>(args, info[9], taps, "yIdx");
  const float* ya = Data<float>(args, info[10], taps, "yAlpha");
  uint8_t* out = Data<uint8_t>(args, info[11], size_t(outW) * outH, "out");
  for (int dx = 0; dx < outW; dx++) {
    if (x0[dx] < 0 || x0[dx] > w - K) args.fail(false, "x0", "tap starts in [0, w - K]", std::to_string(x0[dx]) + " at " + std::to_string(dx));
  }
  for (size_t k = 0; k < taps; k++) {
    if (yi[k] < 0 || yi[k] >= h) args.fail(false, "yIdx", "rows in [0, h)", std::to_string(yi[k]) + " at " + std::to_string(k));
  }
  std::vector<float> hs(size_t(h) * outW);
  std::vector<double> rowd(w);
  for (int y = 0; y < h; y++) {
    const uint8_t* row = src + size_t(y) * w;
    // each source pixel converted once (not once per tap)
    for (int x = 0; x < w; x++) rowd[x] = row[x];
    float* o = hs.data() + size_t(y) * outW;
    switch (K) {
      case 2: HorizontalRow<2>(rowd.data(), x0, xa, outW, o); break;
      case 3: HorizontalRow<3>(rowd.data(), x0, xa, outW, o); break;
      case 4: HorizontalRow<4>(rowd.data(), x0, xa, outW, o); break;
      case 5: HorizontalRow<5>(rowd.data(), x0, xa, outW, o); break;
      default:
        for (int dx = 0; dx < outW; dx++) {
          const double* p = rowd.data() + x0[dx];
          const float* a = xa + size_t(dx) * K;
          double sum = 0;
          for (int t = 0; t < K; t++) sum += p[t] * double(a[t]);
          o[dx] = float(sum);
        }
    }
  }
  std::vector<float> acc(outW);
  for (int dy = 0; dy < outH; dy++) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int k = ys[dy]; k < ys[dy + 1]; k++) {
      const double b = ya[k];
      const float* r = hs.data() + size_t(yi[k]) * outW;
      for (int dx = 0; dx < outW; dx++) acc[dx] = float(double(acc[dx]) + double(r[dx]) * b);
    }
    uint8_t* o = out + size_t(dy) * outW;
    for (int dx = 0; dx < outW; dx++) {
      const double v = std::nearbyint(double(acc[dx]));  // round half to even (default mode)
      o[dx] = uint8_t(v < 0 ? 0 : v > 255 ? 255 : v);
    }
  }
  return env.Undefined();
}

// Branch-free: on X-ray noise the choice is close to random and mispredicted branches cost 3x.
inline int Paeth(int a, int b, int c) {
  const int pa = std::abs(b - c), pb = std::abs(a - c), pc = std::abs(a + b - 2 * c);
  const int ma = -int(pa <= pb && pa <= pc);  // all ones when a is the predictor
  const int mb = -int(pb <= pc) & ~ma;
  return (a & ma) | (b & mb) | (c & ~(ma | mb));
}

// Paeth on one channel is a serial chain through the left neighbour (about 12 cycles a byte).
// Four consecutive rows run as a wavefront, row j at byte t - j, so that four independent chains
// overlap: row j's byte i needs row j-1's bytes i-1 and i, finished one step earlier.
// r0: first row's bytes (after its filter byte), u0: the row above it, next: row pitch, n: bytes.
void PaethRows4(uint8_t* r0, const uint8_t* u0, size_t next, size_t n) {
  constexpr int G = 4;
  uint8_t* R[G];
  const uint8_t* U[G];
  for (int j = 0; j < G; j++) {
    R[j] = r0 + j * next;
    U[j] = j == 0 ? u0 : R[j - 1];
  }
  int a[G], c[G];
  auto step = [&](int j, size_t i) {
    if (i == 0) {
      a[j] = uint8_t(R[j][0] + U[j][0]);  // no left neighbour: the predictor is the byte above
      c[j] = U[j][0];
    } else {
      const int b = U[j][i];
      a[j] = uint8_t(R[j][i] + Paeth(a[j], b, c[j]));
      c[j] = b;
    }
    R[j][i] = uint8_t(a[j]);
  };
  for (size_t t = 0; t < n + G - 1; t++) {
    if (t >= G - 1 && t < n) {
      step(0, t);
      step(1, t - 1);
      step(2, t - 2);
      step(3, t - 3);
    } else {
      for (int j = 0; j < G; j++) {
        if (t >= size_t(j) && t - j < n) step(j, t - j);
      }
    }
  }
}

// PNG row filters undone in place (8-bit, ch channels, each row = filter byte + w*ch bytes),
// then each row to gray: 1 channel copied, 2 (gray+alpha) first channel, 3/4 with
// 0.299 R + 0.587 G + 0.114 B rounded half up (alpha dropped). Returns false on an unknown filter.
// args: raw, w, h, ch, out
Napi::Value PngUnfilterGray(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args args(info, "pngUnfilterGray");
  const int w = Int(args, 1, "w"), h = Int(args, 2, "h"), ch = Int(args, 3, "ch");
  COVIDNET_CHECK(args, w >= 1 && h >= 1, "w, h", "sizes of at least 1", std::to_string(w) + ", " + std::to_string(h));
  COVIDNET_CHECK(args, ch >= 1 && ch <= 4, "ch", "a channel count in [1, 4]", std::to_string(ch));
  const size_t stride = size_t(w) * ch;
  uint8_t* raw = Data<uint8_t>(args, info[0], (stride + 1) * h, "raw");
  uint8_t* out = Data<uint8_t>(args, info[4], size_t(w) * h, "out");
  for (int y = 0; y < h; y++) {
    uint8_t* r = raw + size_t(y) * (stride + 1);
    const int f = r[0];
    if (ch == 1 && f == 4 && y > 0 && y + 3 < h && r[stride + 1] == 4 && r[2 * (stride + 1)] == 4 && r[3 * (stride + 1)] == 4) {
      // four Paeth rows at once (gray: the usual case on X-rays)
      PaethRows4(r + 1, r - stride, stride + 1, stride);
      for (int j = 0; j < 4; j++) std::copy(r + 1 + j * (stride + 1), r + 1 + j * (stride + 1) + w, out + size_t(y + j) * w);
      y += 3;
      continue;
    }
    r++;
    const uint8_t* u = y > 0 ? r - stride - 1 : nullptr;
    switch (f) {
      case 0:
        break;
      case 1:
        for (size_t i = ch; i < stride; i++) r[i] = uint8_t(r[i] + r[i - ch]);
        break;
      case 2:
        if (u) for (size_t i = 0; i < stride; i++) r[i] = uint8_t(r[i] + u[i]);
        break;
      case 3:
        for (size_t i = 0; i < size_t(ch); i++) r[i] = uint8_t(r[i] + ((u ? u[i] : 0) >> 1));
        for (size_t i = ch; i < stride; i++) r[i] = uint8_t(r[i] + ((r[i - ch] + (u ? u[i] : 0)) >> 1));
        break;
      case 4:
        if (u) {
          for (size_t i = 0; i < size_t(ch); i++) r[i] = uint8_t(r[i] + u[i]);
          if (ch == 1) {
            int a = r[0], c = u[0];  // carried in registers
            for (size_t i = 1; i < stride; i++) {
              const int b = u[i];
              a = uint8_t(r[i] + Paeth(a, b, c));
              r[i] = uint8_t(a);
              c = b;
            }
          } else {
            for (size_t i = ch; i < stride; i++) r[i] = uint8_t(r[i] + Paeth(r[i - ch], u[i], u[i - ch]));
          }
        } else {
          for (size_t i = ch; i < stride; i++) r[i] = uint8_t(r[i] + r[i - ch]);
        }
        break;
      default:
        return Napi::Boolean::New(env, false);
    }
    uint8_t* o = out + size_t(y) * w;
    if (ch == 1) {
      std::copy(r, r + w, o);
    } else if (ch == 2) {
      for (int x = 0; x < w; x++) o[x] = r[2 * x];
    } else {
      for (int x = 0; x < w; x++) {
        const uint8_t* p = r + size_t(x) * ch;
        const double g = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2] + 0.5;
        o[x] = uint8_t(g);
      }
    }
  }
  return Napi::Boolean::New(env, true);
}

}  // namespace

// Called from Init in addon.cc.
void RegisterImageOps(Napi::Env env, Napi::Object exports) {
  Export<ResizeAreaU8>(env, exports, "resizeAreaU8");
  Export<PngUnfilterGray>(env, exports, "pngUnfilterGray");
}

}  // namespace covidnet
