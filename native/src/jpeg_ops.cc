// JPEG straight to 8-bit gray with libjpeg(-turbo), for the data pipeline (src/data/decode.ts).
//
// Why not sharp: libvips decodes to RGB (chroma upsampling + colour conversion) and runs its own
// pipeline around it; a chest X-ray needs only the luminance, which libjpeg can hand out directly
// for gray JPEGs, and colour ones go from libjpeg's RGB rows to gray in one pass, with the weights
// of src/data/decode.ts. Same libjpeg defaults as libvips (islow IDCT, fancy upsampling), so the
// pixels equal the sharp path's (tested in src/data/jpeg-native.test.ts).
//
// Anything unusual (CMYK/YCCK, a libjpeg error or even a warning such as a truncated file) returns
// null and the caller falls back to sharp, which also words the error for the user.
#include "common.h"

#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

extern "C" {
#include <jpeglib.h>
}

namespace covidnet {
namespace {

struct ErrorMgr {
  jpeg_error_mgr pub;
  jmp_buf jump;
  bool warned;
};

void OnError(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<ErrorMgr*>(cinfo->err);
  longjmp(e->jump, 1);
}

void OnMessage(j_common_ptr cinfo, int level) {
  // level -1: a warning about corrupt data (libjpeg would carry on and fill with gray)
  if (level < 0) reinterpret_cast<ErrorMgr*>(cinfo->err)->warned = true;
}

void Silent(j_common_ptr) {}

enum class Status { kOk, kTooLarge, kFallback };

// Plain C-style function: nothing with a destructor lives across setjmp/longjmp.
Status Decode(const uint8_t* buf, size_t len, double maxPixels, uint8_t** out, int* width, int* height) {
  jpeg_decompress_struct cinfo;
  ErrorMgr err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = OnError;
  err.pub.emit_message = OnMessage;
  err.pub.output_message = Silent;
  err.warned = false;
  uint8_t* volatile pixels = nullptr;
  uint8_t* volatile rgb = nullptr;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    free(pixels);
    free(rgb);
    return Status::kFallback;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, const_cast<unsigned char*>(buf), static_cast<unsigned long>(len));
  jpeg_read_header(&cinfo, TRUE);
  *width = static_cast<int>(cinfo.image_width);
  *height = static_cast<int>(cinfo.image_height);
  if (double(cinfo.image_width) * double(cinfo.image_height) > maxPixels) {
    jpeg_destroy_decompress(&cinfo);
    return Status::kTooLarge;
  }
  const J_COLOR_SPACE cs = cinfo.jpeg_color_space;
  if (err.warned || !(cs == JCS_GRAYSCALE || cs == JCS_YCbCr || cs == JCS_RGB)) {
    jpeg_destroy_decompress(&cinfo);
    return Status::kFallback;
  }
  // Colour goes through RGB, as in sharp and PIL: Y alone differs where RGB clips (coloured
  // annotations in figures from papers), by up to 11 levels on cxr-mini.
  const bool colour = cs != JCS_GRAYSCALE;
  cinfo.out_color_space = colour ? JCS_RGB : JCS_GRAYSCALE;
  cinfo.dct_method = JDCT_ISLOW;  // the default of libjpeg, libvips and PIL: same pixels
  jpeg_start_decompress(&cinfo);
  const size_t w = cinfo.output_width, h = cinfo.output_height;
  pixels = static_cast<uint8_t*>(malloc(w * h));
  if (colour) rgb = static_cast<uint8_t*>(malloc(w * 3));
  if (pixels == nullptr || (colour && rgb == nullptr)) longjmp(err.jump, 1);
  while (cinfo.output_scanline < cinfo.output_height) {
    uint8_t* dst = pixels + size_t(cinfo.output_scanline) * w;
    JSAMPROW row = colour ? rgb : dst;
    jpeg_read_scanlines(&cinfo, &row, 1);
    if (colour) {
      // the weights and rounding of rgbToGray8 in src/data/decode.ts, in the same order (doubles)
      for (size_t x = 0, j = 0; x < w; x++, j += 3) {
        dst[x] = static_cast<uint8_t>(0.299 * rgb[j] + 0.587 * rgb[j + 1] + 0.114 * rgb[j + 2] + 0.5);
      }
    }
  }
  jpeg_finish_decompress(&cinfo);
  const bool warned = err.warned;
  jpeg_destroy_decompress(&cinfo);
  free(rgb);
  if (warned) {
    free(pixels);
    return Status::kFallback;
  }
  *out = pixels;
  *width = static_cast<int>(w);
  *height = static_cast<int>(h);
  return Status::kOk;
}

// jpegDecodeGray(buf: Uint8Array, maxPixels: number)
//   → { width, height, data: Uint8Array } | { width, height, tooLarge: true } | null
Napi::Value JpegDecodeGray(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args args(info, "jpegDecodeGray");
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    args.fail(true, "buf", "a Uint8Array", describe(info[0]));
  }
  const double maxPixels = args.number(1, "maxPixels");
  COVIDNET_CHECK(args, maxPixels >= 0, "maxPixels", "a pixel count of at least 0", describe(info[1]));
  auto a = info[0].As<Napi::TypedArray>();
  const uint8_t* buf = static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset();
  uint8_t* pixels = nullptr;
  int w = 0, h = 0;
  const Status s = Decode(buf, a.ByteLength(), maxPixels, &pixels, &w, &h);
  if (s == Status::kFallback) return env.Null();
  Napi::Object r = Napi::Object::New(env);
  r.Set("width", w);
  r.Set("height", h);
  if (s == Status::kTooLarge) {
    r.Set("tooLarge", true);
    return r;
  }
  // copied into a plain JS buffer (≈0.05 ms a megapixel): external buffers cannot be transferred
  // between threads, and callers may post the pixels to another worker
  auto data = Napi::Uint8Array::New(env, size_t(w) * h);
  std::memcpy(data.Data(), pixels, size_t(w) * h);
  free(pixels);
  r.Set("data", data);
  return r;
}

}  // namespace

void RegisterJpegOps(Napi::Env env, Napi::Object exports) { Export<JpegDecodeGray>(env, exports, "jpegDecodeGray"); }

}  // namespace covidnet
