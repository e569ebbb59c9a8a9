/**
 * Heat maps by perturbing the input instead of by gradients, for any net that gives class logits
 * (the single net's logits, the siamese net's negated pre-sigmoid template distances):
 *
 * - `insertion`: start from the image with its evidence removed (default: blurred with σ = one
 *   cell; or blank, the standardised mean 0) and put back one patch of the image; heat = how much
 *   the explained margin rises over the removed image's.
 * - `occlusion`: remove one patch of the image (the same baseline's patch); heat = how much the
 *   margin falls.
 *
 * The map has `cells`×`cells` cells of `stride` = floor(size / cells) input pixels; the patch of
 * cell (i, j) is `patch` cells wide, centred on the cell (clipped at the edges). The explained
 * score is a margin in logit space: target minus a fixed other class (the runner-up on the
 * unperturbed image, or the `contrast` class), so every class can localise: a class's own logit
 * can rise and fall with the others and cancel in Grad-CAM's ReLU (docs/explain.md).
 * Negative heat (a patch that argues against the target) is cut at 0, as Grad-CAM's ReLU does.
 */
import * as tf from '../tf.js';
import { PERTURBATION_BASELINES, DEFAULT_PERTURBATION_BASELINE, DEFAULT_PERTURBATION_CELLS, DEFAULT_PERTURBATION_PATCH, type PerturbationBaseline } from './methods.js';

export { DEFAULT_PERTURBATION_BASELINE, DEFAULT_PERTURBATION_CELLS, DEFAULT_PERTURBATION_PATCH, type PerturbationBaseline };

/** [n, size, size, 1] standardised inputs → [n, classes] logits, row-major. */
export type LogitFn = (x: tf.Tensor4D) => Float32Array;

export type PerturbationMethod = 'insertion' | 'occlusion';

export interface PerturbationOptions {
  method: PerturbationMethod;
  /** Cells per side of the map (default 8). */
  cells?: number | undefined;
  /** Patch side in cells (default 1). */
  patch?: number | undefined;
  /** Perturbed inputs per forward (default 32). */
  batch?: number | undefined;
  /**
   * What "removed" means (default `blur`): `blur` = the image blurred with a Gaussian of
   * `blurSigma` input pixels (default: one cell's stride), which removes small evidence but keeps
   * the broad background, so a put-back patch is not a new square edge on a flat canvas;
   * `blank` = the standardised mean (0).
   */
  baseline?: PerturbationBaseline | undefined;
  blurSigma?: number | undefined;
}


/** What a margin compares, per image: target class index minus other class index. */
export interface MarginPair {
  target: number;
  other: number;
}

export interface PerturbationMap {
  /** cells×cells, row-major, ≥ 0. */
  map: Float32Array;
  cells: number;
  /** Input pixels per cell. */
  stride: number;
}

/** Input pixel rectangle [x0, x1) × [y0, y1) of cell (i, j)'s patch. */
export function patchBox(size: number, cells: number, patch: number, i: number, j: number): { x0: number; x1: number; y0: number; y1: number } {
  const stride = Math.floor(size / cells);
  const half = (patch * stride) / 2;
  const cx = (j + 0.5) * stride;
  const cy = (i + 0.5) * stride;
  const lo = (c: number) => Math.max(0, Math.round(c - half));
  const hi = (c: number) => Math.min(size, Math.round(c + half));
  return { x0: lo(cx), x1: hi(cx), y0: lo(cy), y1: hi(cy) };
}

/**
 * One map per image of `x` ([n, size, size, 1], standardised), for `pairs[i]`. Costs
 * cells² + 1 forwards per image, batched.
 */
export function perturbationMaps(logits: LogitFn, x: tf.Tensor4D, pairs: readonly MarginPair[], opts: PerturbationOptions): PerturbationMap[] {
  const [n, size, w] = x.shape;
  if (size !== w) throw new RangeError(`perturbation maps need square inputs, got ${size}×${w}`);
  const cells = opts.cells ?? DEFAULT_PERTURBATION_CELLS;
  const patch = opts.patch ?? DEFAULT_PERTURBATION_PATCH;
  const batch = opts.batch ?? 32;
  if (!(Number.isInteger(cells) && cells >= 1 && cells <= size)) throw new RangeError(`cells must be an integer in [1, ${size}], got ${cells}`);
  if (!(patch > 0 && patch <= cells)) throw new RangeError(`patch must be in (0, ${cells}] cells, got ${patch}`);
  const stride = Math.floor(size / cells);
  const px = size * size;
  const baseline = opts.baseline ?? DEFAULT_PERTURBATION_BASELINE;
  if (!(PERTURBATION_BASELINES as readonly string[]).includes(baseline)) throw new RangeError(`baseline must be one of ${PERTURBATION_BASELINES.join(', ')}, got ${String(baseline)}`);
  const sigma = opts.blurSigma ?? stride;
  if (!(sigma > 0)) throw new RangeError(`blurSigma must be > 0 pixels, got ${sigma}`);
  const all = x.dataSync() as Float32Array;
  const boxes = Array.from({ length: cells * cells }, (_, k) => patchBox(size, cells, patch, Math.floor(k / cells), k % cells));
  const out: PerturbationMap[] = [];
  for (let i = 0; i < n; i++) {
    const img = all.subarray(i * px, (i + 1) * px);
    const removed = baseline === 'blur' ? gaussianBlur(img, size, sigma) : undefined;
    const pair = pairs[i]!;
    // variant 0: the reference (the removed image for insertion, the image itself for occlusion)
    const variants = boxes.length + 1;
    const margins = new Float32Array(variants);
    for (let s = 0; s < variants; s += batch) {
      const m = Math.min(batch, variants - s);
      const buf = new Float32Array(m * px);
      for (let v = 0; v < m; v++) {
        const dst = buf.subarray(v * px, (v + 1) * px);
        const k = s + v - 1; // cell index, −1 = reference
        if (opts.method === 'occlusion') dst.set(img);
        else if (removed) dst.set(removed);
        if (k < 0) continue;
        const b = boxes[k]!;
        for (let y = b.y0; y < b.y1; y++) {
          const row = y * size;
          if (opts.method === 'insertion') dst.set(img.subarray(row + b.x0, row + b.x1), row + b.x0);
          else if (removed) dst.set(removed.subarray(row + b.x0, row + b.x1), row + b.x0);
          else dst.fill(0, row + b.x0, row + b.x1);
        }
      }
      const t = tf.tensor4d(buf, [m, size, size, 1]);
      let l: Float32Array;
      try {
        l = logits(t);
      } finally {
        t.dispose();
      }
      const k = l.length / m;
      for (let v = 0; v < m; v++) margins[s + v] = l[v * k + pair.target]! - l[v * k + pair.other]!;
    }
    // A patch spans several cells, so a mark inside it raises the score of the patches of all
    // those cells alike; each cell takes the overlap-weighted mean of the patches covering it, which
    // peaks where the most score-raising patches agree (on the evidence, not on a neighbour).
    const delta = new Float32Array(boxes.length);
    const ref = margins[0]!;
    for (let c = 0; c < boxes.length; c++) delta[c] = opts.method === 'insertion' ? margins[c + 1]! - ref : ref - margins[c + 1]!;
    const map = new Float32Array(boxes.length);
    for (let c = 0; c < boxes.length; c++) {
      const cx0 = (c % cells) * stride;
      const cy0 = Math.floor(c / cells) * stride;
      let sum = 0;
      let wsum = 0;
      for (let p = 0; p < boxes.length; p++) {
        const b = boxes[p]!;
        const w = Math.max(0, Math.min(b.x1, cx0 + stride) - Math.max(b.x0, cx0)) * Math.max(0, Math.min(b.y1, cy0 + stride) - Math.max(b.y0, cy0));
        if (w > 0) {
          sum += w * delta[p]!;
          wsum += w;
        }
      }
      const v = wsum > 0 ? sum / wsum : 0;
      map[c] = v > 0 ? v : 0;
    }
    out.push({ map, cells, stride });
  }
  return out;
}

/** Separable Gaussian blur of a size×size image, edges clamped (taps to ±3σ). */
export function gaussianBlur(img: Float32Array, size: number, sigma: number): Float32Array {
  const r = Math.max(1, Math.ceil(3 * sigma));
  const k = new Float32Array(2 * r + 1);
  let z = 0;
  for (let d = -r; d <= r; d++) z += k[d + r] = Math.exp(-(d * d) / (2 * sigma * sigma));
  for (let d = 0; d < k.length; d++) k[d]! /= z;
  const clamp = (v: number) => (v < 0 ? 0 : v >= size ? size - 1 : v);
  const tmp = new Float32Array(size * size);
  const out = new Float32Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let s = 0;
      for (let d = -r; d <= r; d++) s += k[d + r]! * img[y * size + clamp(x + d)]!;
      tmp[y * size + x] = s;
    }
  }
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let s = 0;
      for (let d = -r; d <= r; d++) s += k[d + r]! * tmp[clamp(y + d) * size + x]!;
      out[y * size + x] = s;
    }
  }
  return out;
}
