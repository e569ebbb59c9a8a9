/**
 * Where the network's feature grid sits on the image the user gave. Preprocessing crops a box
 * (a fraction of width and height per side) and resizes it to `size`×`size`; the last stage of
 * COVID-Net has a total stride of 32, so feature cell (i, j) covers input pixels [32j, 32j+32).
 * Everything here maps between three frames: feature grid → network input → original image.
 */

/** The crop box in original pixels (the data module's `cropBox` has the same shape). */
export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** What a heat map needs to know to be placed on the original image. */
export interface CamGeometry {
  /** Original image size in pixels. */
  width: number;
  height: number;
  /** The part of the original image the network saw. */
  box: Box;
  /** Network input side. */
  size: number;
  /** Feature grid side (floor(size / stride)). */
  grid: number;
  /** Input pixels per feature cell. */
  stride: number;
}

/** COVID-Net halves the resolution five times before `feature_sum`. */
export const FEATURE_STRIDE = 32;

/**
 * `stride`: input pixels per cell; default the feature grid's (Grad-CAM). Perturbation maps
 * (./perturbation.ts) pass their own cell size.
 */
export function makeGeometry(width: number, height: number, box: Box, size: number, grid: number, stride?: number): CamGeometry {
  return { width, height, box, size, grid, stride: stride ?? featureStride(size, grid) };
}

/** Input pixels per cell of the `grid`×`grid` feature map of a `size`² input. */
export function featureStride(size: number, grid: number): number {
  // With size a multiple of 32 both agree; otherwise the valid max-pools drop the last pixels and
  // a cell still spans 32 input pixels.
  return size % grid === 0 && size / grid === FEATURE_STRIDE ? size / grid : FEATURE_STRIDE;
}

/** A point of the network input (pixel-centre convention) in original pixel coordinates. */
export function inputToOriginal(g: CamGeometry, u: number, v: number): { x: number; y: number } {
  return {
    x: g.box.left + ((u + 0.5) * g.box.width) / g.size - 0.5,
    y: g.box.top + ((v + 0.5) * g.box.height) / g.size - 0.5,
  };
}

/** An original pixel in network-input coordinates (may fall outside [0, size) when outside the box). */
export function originalToInput(g: CamGeometry, x: number, y: number): { u: number; v: number } {
  return {
    u: ((x + 0.5 - g.box.left) * g.size) / g.box.width - 0.5,
    v: ((y + 0.5 - g.box.top) * g.size) / g.box.height - 0.5,
  };
}

/** Centre of feature cell (row i, column j) in original pixel coordinates. */
export function cellCentre(g: CamGeometry, i: number, j: number): { x: number; y: number } {
  return inputToOriginal(g, (j + 0.5) * g.stride - 0.5, (i + 0.5) * g.stride - 0.5);
}

/**
 * Resamples a `grid`×`grid` map (row-major) onto an `outW`×`outH` raster covering the whole
 * original image: bilinear between cell centres (clamped at the edges, as upsampling to the
 * input does in Grad-CAM), zero outside the crop box (the network never saw those pixels).
 */
export function resampleToOriginal(cam: Float32Array, g: CamGeometry, outW = g.width, outH = g.height): Float32Array {
  const out = new Float32Array(outW * outH);
  const n = g.grid;
  const sx = g.width / outW;
  const sy = g.height / outH;
  const bx0 = g.box.left;
  const bx1 = g.box.left + g.box.width;
  const by0 = g.box.top;
  const by1 = g.box.top + g.box.height;
  // Per-column and per-row interpolation weights, computed once.
  const colJ = new Int32Array(outW);
  const colW = new Float32Array(outW);
  const colIn = new Uint8Array(outW);
  for (let xo = 0; xo < outW; xo++) {
    const x = (xo + 0.5) * sx - 0.5;
    colIn[xo] = x + 0.5 >= bx0 && x + 0.5 < bx1 ? 1 : 0;
    const gx = clamp(((x + 0.5 - bx0) * g.size) / g.box.width / g.stride - 0.5, 0, n - 1);
    const j0 = Math.min(Math.floor(gx), n - 1);
    colJ[xo] = j0;
    colW[xo] = gx - j0;
  }
  for (let yo = 0; yo < outH; yo++) {
    const y = (yo + 0.5) * sy - 0.5;
    if (!(y + 0.5 >= by0 && y + 0.5 < by1)) continue;
    const gy = clamp(((y + 0.5 - by0) * g.size) / g.box.height / g.stride - 0.5, 0, n - 1);
    const i0 = Math.min(Math.floor(gy), n - 1);
    const i1 = Math.min(i0 + 1, n - 1);
    const wy = gy - i0;
    const r0 = i0 * n;
    const r1 = i1 * n;
    const row = yo * outW;
    for (let xo = 0; xo < outW; xo++) {
      if (!colIn[xo]) continue;
      const j0 = colJ[xo]!;
      const j1 = Math.min(j0 + 1, n - 1);
      const wx = colW[xo]!;
      const top = cam[r0 + j0]! * (1 - wx) + cam[r0 + j1]! * wx;
      const bot = cam[r1 + j0]! * (1 - wx) + cam[r1 + j1]! * wx;
      out[row + xo] = top * (1 - wy) + bot * wy;
    }
  }
  return out;
}

/**
 * The same bilinear upsampling onto the network input (`size`×`size`), the frame Grad-CAM is
 * usually shown in; used for the border band of what the network saw.
 */
export function resampleToInput(cam: Float32Array, g: CamGeometry): Float32Array {
  const square: CamGeometry = { ...g, width: g.size, height: g.size, box: { left: 0, top: 0, width: g.size, height: g.size } };
  return resampleToOriginal(cam, square);
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
