// Image kernels of the data pipeline (src/data): the inner loops of INTER_AREA resizing and of the
// PNG fast path. Optional: src/data falls back to the same loops in TypeScript when the addon is
// not built, and the results are bit-identical (the arithmetic below mirrors the JS one: doubles
// where JS computes in doubles, floats where JS stores into Float32Arrays).
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

template <typename T>
T* Data(const Napi::Value& v, size_t need, const char* name) {
  if (!v.IsTypedArray()) throw Napi::TypeError::New(v.Env(), std::string(name) + ": typed array expected");
  auto a = v.As<Napi::TypedArray>();
  if (a.ByteLength() < need * sizeof(T)) throw Napi::RangeError::New(v.Env(), std::string(name) + ": too short");
  return reinterpret_cast<T*>(static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset());
}

int Int(const Napi::Value& v) { return v.As<Napi::Number>().Int32Value(); }

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
  if (info.Length() < 12) throw Napi::TypeError::New(env, "resizeAreaU8: 12 arguments expected");
  const int w = Int(info[1]), h = Int(info[2]), outW = Int(info[3]), outH = Int(info[4]), K = Int(info[7]);
  if (w < 1 || h < 1 || outW < 1 || outH < 1 || K < 1 || K > w) throw Napi::RangeError::New(env, "resizeAreaU8: bad sizes");
  const uint8_t* src = Data<uint8_t>(info[0], size_t(w) * h, "src");
  const int32_t* x0 = Data<int32_t>(info[5], outW, "x0");
  const float* xa = Data<float>(info[6], size_t(outW) * K, "xa");
  const int32_t* ys = Data<int32_t>(info[8], outH + 1, "yStart");
  const size_t taps = size_t(ys[outH]);
  const int32_t* yi = Data<int32_t>(info[9], taps, "yIdx");
  const float* ya = Data<float>(info[10], taps, "yAlpha");
  uint8_t* out = Data<uint8_t>(info[11], size_t(outW) * outH, "out");
  for (int dx = 0; dx < outW; dx++) {
    if (x0[dx] < 0 || x0[dx] + K > w) throw Napi::RangeError::New(env, "resizeAreaU8: x0 out of range");
  }
  for (size_t k = 0; k < taps; k++) {
    if (yi[k] < 0 || yi[k] >= h) throw Napi::RangeError::New(env, "resizeAreaU8: yIdx out of range");
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
  if (info.Length() < 5) throw Napi::TypeError::New(env, "pngUnfilterGray: 5 arguments expected");
  const int w = Int(info[1]), h = Int(info[2]), ch = Int(info[3]);
  if (w < 1 || h < 1 || ch < 1 || ch > 4) throw Napi::RangeError::New(env, "pngUnfilterGray: bad sizes");
  const size_t stride = size_t(w) * ch;
  uint8_t* raw = Data<uint8_t>(info[0], (stride + 1) * h, "raw");
  uint8_t* out = Data<uint8_t>(info[4], size_t(w) * h, "out");
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
  exports.Set("resizeAreaU8", Napi::Function::New(env, ResizeAreaU8));
  exports.Set("pngUnfilterGray", Napi::Function::New(env, PngUnfilterGray));
}
