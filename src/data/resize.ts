/**
 * Border crop and OpenCV INTER_AREA resizing of 8-bit gray images.
 *
 * `resizeArea` follows `cv2.resize(img, (outW, outH), interpolation=cv2.INTER_AREA)` for
 * single-channel uint8 images, branch by branch, so that results agree with OpenCV within one
 * gray level (and are bit-identical on most pixels):
 * - same size: a copy;
 * - downscaling on both axes by integer factors: block averages (OpenCV's "area fast" path;
 *   2×2 rounds half up as its SIMD code does, others round half to even);
 * - downscaling on both axes otherwise: area-weighted averages with OpenCV's weight table
 *   (partial cells under 1e-3 dropped, float weights);
 * - upscaling on either axis: OpenCV's INTER_AREA falls back to bilinear interpolation with
 *   its own "area mode" coefficients, in 11-bit fixed point.
 */
import { optionError } from '../errors.js';
import { imageOps } from './native-ops.js';

export interface CropBox {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * The region kept after removing `crop` (a fraction in [0, 0.5)) of the width and of the height
 * from each side; offsets rounded to whole pixels (as `img[t:h-t, l:w-l]` with
 * `t = round(crop*h)`), at least one pixel kept.
 */
export function cropBox(width: number, height: number, crop: number): CropBox {
  if (!Number.isInteger(width) || width < 1) throw optionError('width', 'a positive integer', width);
  if (!Number.isInteger(height) || height < 1) throw optionError('height', 'a positive integer', height);
  if (!(crop >= 0 && crop < 0.5)) throw optionError('crop', 'a fraction in [0, 0.5)', crop);
  const left = Math.min(Math.round(width * crop), Math.floor((width - 1) / 2));
  const top = Math.min(Math.round(height * crop), Math.floor((height - 1) / 2));
  return { left, top, width: width - 2 * left, height: height - 2 * top };
}

/** Copy a rectangle out of a row-major 8-bit image. */
export function cropGray8(src: Uint8Array, width: number, box: CropBox): Uint8Array {
  if (box.left === 0 && box.top === 0 && box.width === width && src.length === box.width * box.height) return src;
  const out = new Uint8Array(box.width * box.height);
  for (let y = 0; y < box.height; y++) {
    const s = (box.top + y) * width + box.left;
    out.set(src.subarray(s, s + box.width), y * box.width);
  }
  return out;
}

/** cvRound for non-negative values: round half to even. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && (r & 1) === 1 ? r - 1 : r;
}

function clampU8(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Resize a row-major uint8 gray image like OpenCV's INTER_AREA. */
export function resizeArea(src: Uint8Array, w: number, h: number, outW: number, outH: number): Uint8Array {
  for (const [name, v] of [['w', w], ['h', h], ['outW', outW], ['outH', outH]] as const) {
    if (!Number.isInteger(v) || v < 1) throw optionError(name, 'a positive integer', v);
  }
  if (src.length < w * h) throw optionError('src', `at least ${w * h} pixels`, src.length);
  if (w === outW && h === outH) return src.slice(0, w * h);
  // OpenCV derives the scale as 1 / (dst/src), not src/dst; keep that for identical tables.
  const invX = outW / w;
  const invY = outH / h;
  const scaleX = 1 / invX;
  const scaleY = 1 / invY;
  if (scaleX >= 1 && scaleY >= 1) {
    const isx = Math.round(scaleX);
    const isy = Math.round(scaleY);
    if (Math.abs(scaleX - isx) < Number.EPSILON && Math.abs(scaleY - isy) < Number.EPSILON) {
      return areaFast(src, w, outW, outH, isx, isy);
    }
    return areaGeneral(src, w, h, outW, outH, scaleX, scaleY);
  }
  return areaLinear(src, w, h, outW, outH, scaleX, scaleY, invX, invY);
}

function areaFast(src: Uint8Array, w: number, outW: number, outH: number, sx: number, sy: number): Uint8Array {
  const out = new Uint8Array(outW * outH);
  if (sx === 2 && sy === 2) {
    for (let dy = 0; dy < outH; dy++) {
      const r0 = 2 * dy * w;
      const r1 = r0 + w;
      const o = dy * outW;
      for (let dx = 0; dx < outW; dx++) {
        const i = 2 * dx;
        out[o + dx] = (src[r0 + i]! + src[r0 + i + 1]! + src[r1 + i]! + src[r1 + i + 1]! + 2) >> 2;
      }
    }
    return out;
  }
  const scale = Math.fround(1 / (sx * sy));
  for (let dy = 0; dy < outH; dy++) {
    for (let dx = 0; dx < outW; dx++) {
      let sum = 0;
      for (let y = 0; y < sy; y++) {
        const r = (dy * sy + y) * w + dx * sx;
        for (let x = 0; x < sx; x++) sum += src[r + x]!;
      }
      out[dy * outW + dx] = clampU8(roundHalfEven(Math.fround(sum * scale)));
    }
  }
  return out;
}

interface AreaTab {
  /** Per output index: start offset into idx/alpha. */
  start: Int32Array;
  idx: Int32Array;
  alpha: Float32Array;
}

/** OpenCV's computeResizeAreaTab, grouped by output index. */
function areaTab(ssize: number, dsize: number, scale: number): AreaTab {
  const idx: number[] = [];
  const alpha: number[] = [];
  const start = new Int32Array(dsize + 1);
  for (let dx = 0; dx < dsize; dx++) {
    start[dx] = idx.length;
    const fsx1 = dx * scale;
    const fsx2 = fsx1 + scale;
    const cellWidth = Math.min(scale, ssize - fsx1);
    let sx1 = Math.ceil(fsx1);
    let sx2 = Math.floor(fsx2);
    sx2 = Math.min(sx2, ssize - 1);
    sx1 = Math.min(sx1, sx2);
    if (sx1 - fsx1 > 1e-3) {
      idx.push(sx1 - 1);
      alpha.push((sx1 - fsx1) / cellWidth);
    }
    for (let sx = sx1; sx < sx2; sx++) {
      idx.push(sx);
      alpha.push(1 / cellWidth);
    }
    if (fsx2 - sx2 > 1e-3) {
      idx.push(sx2);
      alpha.push(Math.min(Math.min(fsx2 - sx2, 1), cellWidth) / cellWidth);
    }
  }
  start[dsize] = idx.length;
  return { start, idx: Int32Array.from(idx), alpha: Float32Array.from(alpha) };
}

function areaGeneral(
  src: Uint8Array, w: number, h: number, outW: number, outH: number, scaleX: number, scaleY: number,
): Uint8Array {
  const xt = areaTab(w, outW, scaleX);
  const yt = areaTab(h, outH, scaleY);
  // Horizontal taps: consecutive source pixels from x0[dx], padded to a fixed count K per output
  // pixel with zero weights (kept inside the row), so the inner loop has no indirection.
  let K = 1;
  for (let dx = 0; dx < outW; dx++) K = Math.max(K, xt.start[dx + 1]! - xt.start[dx]!);
  const x0 = new Int32Array(outW);
  const xa = new Float32Array(outW * K);
  for (let dx = 0; dx < outW; dx++) {
    const s0 = xt.start[dx]!;
    const n = xt.start[dx + 1]! - s0;
    const first = Math.min(xt.idx[s0]!, w - K);
    x0[dx] = first;
    for (let t = 0; t < n; t++) xa[dx * K + (xt.idx[s0 + t]! - first)] = xt.alpha[s0 + t]!;
  }
  const out = new Uint8Array(outW * outH);
  const native = imageOps();
  if (native) {
    native.resizeAreaU8(src, w, h, outW, outH, x0, xa, K, yt.start, yt.idx, yt.alpha, out);
    return out;
  }
  // Horizontal pass over every source row once (float sums, as OpenCV), then the vertical pass.
  const hs = new Float32Array(h * outW);
  // taps as doubles (the products and sums are double in JS anyway); 4 taps (factors 2 to 3,
  // the common case) unrolled, same summation order as the general loop
  const xd = Float64Array.from(xa);
  for (let y = 0; y < h; y++) {
    const r = y * w;
    const o = y * outW;
    if (K === 4) {
      for (let dx = 0; dx < outW; dx++) {
        const p = r + x0[dx]!;
        const q = dx * 4;
        hs[o + dx] = 0 + src[p]! * xd[q]! + src[p + 1]! * xd[q + 1]! + src[p + 2]! * xd[q + 2]! + src[p + 3]! * xd[q + 3]!;
      }
      continue;
    }
    for (let dx = 0; dx < outW; dx++) {
      const p = r + x0[dx]!;
      const q = dx * K;
      let sum = 0;
      for (let t = 0; t < K; t++) sum += src[p + t]! * xd[q + t]!;
      hs[o + dx] = sum;
    }
  }
  const acc = new Float32Array(outW);
  for (let dy = 0; dy < outH; dy++) {
    acc.fill(0);
    for (let k = yt.start[dy]!, e = yt.start[dy + 1]!; k < e; k++) {
      const b = yt.alpha[k]!;
      const o = yt.idx[k]! * outW;
      for (let dx = 0; dx < outW; dx++) acc[dx] += hs[o + dx]! * b;
    }
    const o = dy * outW;
    for (let dx = 0; dx < outW; dx++) out[o + dx] = clampU8(roundHalfEven(acc[dx]!));
  }
  return out;
}

const COEF_SCALE = 2048; // INTER_RESIZE_COEF_SCALE (11 bits)

/** Source index and fixed-point weights of OpenCV's bilinear "area mode" for one axis. */
function linearTab(ssize: number, dsize: number, scale: number, inv: number): { ofs: Int32Array; a0: Int32Array; a1: Int32Array } {
  const ofs = new Int32Array(dsize);
  const a0 = new Int32Array(dsize);
  const a1 = new Int32Array(dsize);
  for (let d = 0; d < dsize; d++) {
    let s = Math.floor(d * scale);
    let f = Math.fround(d + 1 - (s + 1) * inv);
    f = f <= 0 ? 0 : Math.fround(f - Math.floor(f));
    if (s < 0) {
      f = 0;
      s = 0;
    }
    if (s >= ssize - 1) {
      f = 0;
      s = ssize - 1;
    }
    ofs[d] = s;
    a0[d] = roundHalfEven(Math.fround(1 - f) * COEF_SCALE);
    a1[d] = roundHalfEven(f * COEF_SCALE);
  }
  return { ofs, a0, a1 };
}

function areaLinear(
  src: Uint8Array, w: number, h: number, outW: number, outH: number,
  scaleX: number, scaleY: number, invX: number, invY: number,
): Uint8Array {
  const xt = linearTab(w, outW, scaleX, invX);
  const yt = linearTab(h, outH, scaleY, invY);
  // Horizontal pass: int sums scaled by 2048, per source row actually used.
  const rows = new Map<number, Int32Array>();
  const hrow = (sy: number): Int32Array => {
    let r = rows.get(sy);
    if (r) return r;
    r = new Int32Array(outW);
    const base = sy * w;
    for (let dx = 0; dx < outW; dx++) {
      const sx = xt.ofs[dx]!;
      r[dx] = sx + 1 < w ? src[base + sx]! * xt.a0[dx]! + src[base + sx + 1]! * xt.a1[dx]! : src[base + sx]! * COEF_SCALE;
    }
    rows.set(sy, r);
    return r;
  };
  const out = new Uint8Array(outW * outH);
  for (let dy = 0; dy < outH; dy++) {
    const sy = yt.ofs[dy]!;
    const r0 = hrow(sy);
    const r1 = hrow(Math.min(sy + 1, h - 1));
    const b0 = yt.a0[dy]!;
    const b1 = yt.a1[dy]!;
    const o = dy * outW;
    // OpenCV's vectorised vertical pass: ((S0>>4)*b0 >> 16) + ((S1>>4)*b1 >> 16), then (+2) >> 2.
    for (let dx = 0; dx < outW; dx++) {
      const v = ((((r0[dx]! >> 4) * b0) >> 16) + (((r1[dx]! >> 4) * b1) >> 16) + 2) >> 2;
      out[o + dx] = clampU8(v);
    }
  }
  return out;
}
