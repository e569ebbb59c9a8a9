/**
 * The heat-map methods and what they explain: names and defaults only (no TensorFlow), so the CLI
 * can declare its options without loading a backend.
 */

/**
 * How a heat map is made: by perturbing the input (./perturbation.ts) or Grad-CAM at
 * `feature_sum` (./gradcam.ts). `insertion` is the default: on the planted-mark test it is the
 * method that localises for both nets on every seed (docs/explain.md, "Which heat map localises?").
 */
export const HEAT_METHODS = ['insertion', 'occlusion', 'gradcam'] as const;
export type HeatMethod = (typeof HEAT_METHODS)[number];
export const DEFAULT_HEAT_METHOD: HeatMethod = 'insertion';
/** Names for captions and pages. */
export const HEAT_METHOD_LABEL: Record<HeatMethod, string> = { insertion: 'insertion map', occlusion: 'occlusion map', gradcam: 'Grad-CAM' };

/**
 * What is explained: `margin` = the target's logit minus the runner-up's (or the contrast
 * class's), so evidence that only separates classes is not cancelled out; `class` = the target's
 * logit alone (classic Grad-CAM; with a contrast class, minus its logit).
 */
export const HEAT_SCORES = ['margin', 'class'] as const;
export type HeatScore = (typeof HEAT_SCORES)[number];

/**
 * Default score per method, as measured on the planted-mark test: Grad-CAM of the margin (the
 * class logit alone can cancel to an all-zero map), perturbation maps of the class's own score
 * (a margin there also rewards patches that only lower the runner-up, anywhere in the image).
 */
export function defaultHeatScore(method: HeatMethod): HeatScore {
  return method === 'gradcam' ? 'margin' : 'class';
}

/** Perturbation maps: cells per side, and the patch side in cells (1 localised best on the planted-mark test; docs/explain.md). */
export const DEFAULT_PERTURBATION_CELLS = 8;
export const DEFAULT_PERTURBATION_PATCH = 1;

/**
 * What a perturbation map puts where evidence is removed: `blur` = the image blurred with a
 * Gaussian of one cell's stride (σ in input pixels), `blank` = the standardised mean (0). Blur is
 * the default: on the planted-mark test the insertion map's worst seed went from 35/40 (blank) to
 * 37/40 hits, and correctly classified images missed went from 18 to 1 in 400 (docs/explain.md,
 * "Which heat map localises?"; our reading: a cell put back on a flat canvas is also a new edge).
 */
export const PERTURBATION_BASELINES = ['blur', 'blank'] as const;
export type PerturbationBaseline = (typeof PERTURBATION_BASELINES)[number];
export const DEFAULT_PERTURBATION_BASELINE: PerturbationBaseline = 'blur';
