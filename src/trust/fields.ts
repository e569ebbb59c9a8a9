/** The trust fields of one image as predict, explain and serve report them (rounded for output). */
import type { ClassName } from '../types.js';
import type { OodSignals, OodVerdict } from './detector.js';

export interface TrustFields {
  /** Calibrated probabilities; null without calibration.json. */
  calibrated: Record<ClassName, number> | null;
  /** The out-of-distribution score (larger = less like the training images); null without ood.json. */
  ood_score: number | null;
  /** Images scoring above it are out of distribution; null without ood.json. */
  ood_threshold: number | null;
  /** Whether the image looks like the run's training images; null without ood.json (unchecked). */
  in_distribution: boolean | null;
  /** The raw signals behind `ood_score`. */
  ood_signals: OodSignals | null;
}

function round4(v: number): number {
  return Math.round(v * 1e4) / 1e4;
}

/** The trust fields of an image's calibrated probabilities (in `classes` order) and verdict (either may be missing). */
export function trustFields(a: { calibrated: readonly number[] | undefined; ood: OodVerdict | undefined }, classes: readonly ClassName[]): TrustFields {
  const o = a.ood;
  const num = (v: number) => (Number.isFinite(v) ? round4(v) : null);
  return {
    calibrated: a.calibrated ? (Object.fromEntries(classes.map((c, j) => [c, round4(a.calibrated![j]!)])) as Record<ClassName, number>) : null,
    ood_score: o ? num(o.ood_score) : null,
    ood_threshold: o ? round4(o.threshold) : null,
    in_distribution: o ? o.in_distribution : null,
    ood_signals: o ? (Object.fromEntries(Object.entries(o.signals).map(([k, v]) => [k, num(v as number)])) as unknown as OodSignals) : null,
  };
}
