/**
 * Class-conditional Gaussians with one shared covariance over embeddings (the 256-unit layer),
 * and the Mahalanobis distance to the closest class mean (Lee et al. 2018, "A simple unified
 * framework for detecting out-of-distribution samples").
 *
 * The shared covariance is estimated from a few hundred training images in 256 dimensions, many
 * of them ReLU units that are dead on every image: the sample covariance is singular. It is shrunk
 * towards a multiple of the identity with the Ledoit–Wolf (2004) coefficient, which is estimated
 * from the data (no tuning) and makes the matrix well conditioned:
 *   S = (1/n) Σ (x − μ_y)(x − μ_y)ᵀ,  m = tr(S)/d,
 *   Σ* = ρ m I + (1 − ρ) S,  ρ = min(1, b̄² / δ²),
 *   δ² = ‖S − m I‖²_F,  b̄² = (1/n²) Σ_k ‖x_k x_kᵀ − S‖²_F  (x_k centred on its class mean).
 * Distances are computed through the Cholesky factor L of Σ* (Σ* = L Lᵀ): d² = ‖L⁻¹(x − μ)‖².
 * Everything is float64 in plain JavaScript: d = 256 makes the factorisation a few milliseconds.
 */
import { CovidNetError } from '../errors.js';

export interface SharedGaussian {
  dim: number;
  /** Class means, one per class that had training images (in `classes` order). */
  means: Float64Array[];
  /** Which classes the means belong to (class indices). */
  classes: number[];
  /** Lower-triangular Cholesky factor of the shrunk covariance, packed by rows (i ≥ j). */
  cholesky: Float64Array;
  /** The Ledoit–Wolf shrinkage coefficient ρ in [0, 1]. */
  shrinkage: number;
  /** tr(S)/d, the target's scale. */
  scale: number;
  /** Training images the fit used. */
  n: number;
}

/** Index of (i, j), i ≥ j, in a row-packed lower triangle. */
export function packedIndex(i: number, j: number): number {
  return (i * (i + 1)) / 2 + j;
}

/**
 * Fit the class means and the shrunk shared covariance. `labels[i]` is the class index of
 * `rows[i]`; a class without rows gets no mean (it cannot be the closest).
 */
export function fitSharedGaussian(rows: readonly ArrayLike<number>[], labels: readonly number[], k: number): SharedGaussian {
  const n = rows.length;
  if (n < 2) throw new CovidNetError('E_RUN', `the out-of-distribution detector needs at least 2 training embeddings, got ${n}`);
  const d = rows[0]!.length;
  if (d === 0 || rows.some((r) => r.length !== d)) throw new CovidNetError('E_RUN', 'training embeddings must all have one (non-zero) length');
  const sums = Array.from({ length: k }, () => new Float64Array(d));
  const counts = new Array<number>(k).fill(0);
  rows.forEach((r, i) => {
    const c = labels[i]!;
    counts[c]!++;
    const s = sums[c]!;
    for (let j = 0; j < d; j++) s[j]! += r[j]!;
  });
  const classes: number[] = [];
  const means: Float64Array[] = [];
  for (let c = 0; c < k; c++) {
    if (counts[c] === 0) continue;
    classes.push(c);
    means.push(sums[c]!.map((v) => v / counts[c]!));
  }
  const meanOf = new Map(classes.map((c, i) => [c, means[i]!]));
  // centred rows and S (full, symmetric)
  const X = rows.map((r, i) => {
    const m = meanOf.get(labels[i]!)!;
    const x = new Float64Array(d);
    for (let j = 0; j < d; j++) x[j] = r[j]! - m[j]!;
    return x;
  });
  const S = new Float64Array(d * d);
  for (const x of X) {
    for (let a = 0; a < d; a++) {
      const xa = x[a]!;
      if (xa === 0) continue;
      const row = a * d;
      for (let b = a; b < d; b++) S[row + b]! += xa * x[b]!;
    }
  }
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      const v = S[a * d + b]! / n;
      S[a * d + b] = v;
      S[b * d + a] = v;
    }
  }
  let trace = 0;
  for (let a = 0; a < d; a++) trace += S[a * d + a]!;
  const m = trace / d;
  // δ² = ‖S − mI‖²_F
  let delta2 = 0;
  for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) {
    const v = S[a * d + b]! - (a === b ? m : 0);
    delta2 += v * v;
  }
  // b̄² = (1/n²) Σ ‖x xᵀ − S‖²_F = (1/n²) Σ (‖x‖⁴ − 2 xᵀSx + ‖S‖²_F)
  let s2 = 0;
  for (let i = 0; i < d * d; i++) s2 += S[i]! * S[i]!;
  let bsum = 0;
  const Sx = new Float64Array(d);
  for (const x of X) {
    let xx = 0;
    for (let a = 0; a < d; a++) xx += x[a]! * x[a]!;
    Sx.fill(0);
    for (let a = 0; a < d; a++) {
      const row = a * d;
      let s = 0;
      for (let b = 0; b < d; b++) s += S[row + b]! * x[b]!;
      Sx[a] = s;
    }
    let xSx = 0;
    for (let a = 0; a < d; a++) xSx += x[a]! * Sx[a]!;
    bsum += xx * xx - 2 * xSx + s2;
  }
  const b2 = Math.min(bsum / (n * n), delta2);
  const rho = delta2 > 0 ? b2 / delta2 : 1;
  // all embeddings equal (an untrained or collapsed net): unit covariance, distances stay finite
  const target = m > 0 ? m : 1;
  const shrunk = new Float64Array(d * d);
  for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) shrunk[a * d + b] = (1 - rho) * S[a * d + b]! + (a === b ? rho * target : 0);
  // a floor on the diagonal for rounding (ρ can be 0 with many images)
  for (let a = 0; a < d; a++) shrunk[a * d + a]! += 1e-9 * target;
  return { dim: d, means, classes, cholesky: cholesky(shrunk, d), shrinkage: rho, scale: m, n };
}

/** Row-packed lower Cholesky factor of a symmetric positive-definite d×d matrix (row-major). */
export function cholesky(A: Float64Array, d: number): Float64Array {
  const L = new Float64Array((d * (d + 1)) / 2);
  for (let i = 0; i < d; i++) {
    const ri = packedIndex(i, 0);
    for (let j = 0; j <= i; j++) {
      const rj = packedIndex(j, 0);
      let s = A[i * d + j]!;
      for (let p = 0; p < j; p++) s -= L[ri + p]! * L[rj + p]!;
      if (i === j) {
        if (!(s > 0)) throw new CovidNetError('E_RUN', `covariance is not positive definite (pivot ${i}: ${s})`);
        L[ri + i] = Math.sqrt(s);
      } else {
        L[ri + j] = s / L[rj + j]!;
      }
    }
  }
  return L;
}

/** ‖L⁻¹ v‖² by forward substitution (L row-packed lower triangular). */
export function whitenedNorm2(L: Float64Array, v: ArrayLike<number>, d: number, work = new Float64Array(d)): number {
  let sum = 0;
  for (let i = 0; i < d; i++) {
    const ri = packedIndex(i, 0);
    let s = v[i]!;
    for (let p = 0; p < i; p++) s -= L[ri + p]! * work[p]!;
    const z = s / L[ri + i]!;
    work[i] = z;
    sum += z * z;
  }
  return sum;
}

/**
 * Mahalanobis distance of an embedding to the closest class mean, and which class that is.
 * (The distance, not its square: closer to normal in shape, so a robust spread describes it.)
 */
export function mahalanobis(g: SharedGaussian, x: ArrayLike<number>): { distance: number; closest: number } {
  if (x.length !== g.dim) throw new CovidNetError('E_RUN', `embedding of length ${x.length}, the detector expects ${g.dim}`);
  const diff = new Float64Array(g.dim);
  const work = new Float64Array(g.dim);
  let best = Infinity;
  let closest = -1;
  g.means.forEach((m, i) => {
    for (let j = 0; j < g.dim; j++) diff[j] = x[j]! - m[j]!;
    const d2 = whitenedNorm2(g.cholesky, diff, g.dim, work);
    if (d2 < best) {
      best = d2;
      closest = g.classes[i]!;
    }
  });
  return { distance: Math.sqrt(best), closest };
}
