/**
 * Grad-CAM of images already decoded and preprocessed, with the scores, the trust fields and the
 * heat map placed on the original image: the one definition shared by `Explainer` (./explain.ts,
 * files on disk, the server) and the browser app (src/web). No Node APIs here.
 */
import { cropBox } from '../data/resize.js';
import type { GrayImage } from '../data/types.js';
import type { ClassName } from '../types.js';
import type { RunScorer } from '../run/scorer.js';
import { trustFields, type TrustFields } from '../trust/fields.js';
import type { CamOptions, GradCam, HeatMethod, HeatScore } from './gradcam.js';
import type { PerturbationBaseline } from './methods.js';
import { deletionCurve, type DeletionOptions } from './faithfulness.js';
import { makeGeometry, resampleToInput, resampleToOriginal, type CamGeometry } from './geometry.js';
import { borderMass, camPeak } from './stats.js';

/**
 * One explained image, in memory, with its calibrated probabilities and out-of-distribution
 * verdict (`TrustFields`, null where the run lacks calibration.json / ood.json).
 */
export interface Explained extends TrustFields {
  file: string;
  /** True class where known (with a data source). */
  label?: ClassName | undefined;
  predicted: ClassName;
  target: ClassName;
  /** The run's classes: the order of `scores`. */
  classes: readonly ClassName[];
  /** The target's probability (single) or similarity to its template (siamese). */
  score: number;
  scores: number[];
  /** How the map was made and what it explains (the target's margin over `versus`, or its own score). */
  method: HeatMethod;
  baseline: PerturbationBaseline | null;
  score_kind: HeatScore;
  versus: ClassName | null;
  /** True when the map is all zero: no positive evidence for the explained score, so no peak. */
  flat: boolean;
  /** Heat-map maximum in original pixel coordinates; null when the map is flat. */
  peak: { x: number; y: number } | null;
  /** Deletion check (./faithfulness.ts) where asked for: areas under the score as the hottest / random cells are blanked. */
  deletion: { auc: number; random_auc: number; gain: number } | null;
  /** Share of heat in the outer band of the original image; null for an all-zero map. */
  border_mass: number | null;
  /** The same over the network's input (the cropped, resized view), for comparing crops. */
  border_mass_input: number | null;
  cam: Float32Array;
  geometry: CamGeometry;
  image: GrayImage;
}

export interface CamRequest extends Pick<CamOptions, 'method' | 'score' | 'cells' | 'patch' | 'baseline'> {
  /** Class to explain; default the predicted one. */
  target?: ClassName | undefined;
  /** Siamese: explain similarity to the target minus similarity to this class. */
  contrast?: ClassName | undefined;
  /** Run the deletion check on each map (costs about 70 forwards per image); default off. */
  faithfulness?: boolean | DeletionOptions | undefined;
}

/** One image for `explainImages`: its decoded gray image and its preprocessed 8-bit pixels (preprocess.json's size). */
export interface ExplainInput {
  file: string;
  image: GrayImage;
  pixels: Uint8Array;
  label?: ClassName | undefined;
}

/**
 * Scores, calibrated probabilities, the OOD verdict and Grad-CAM of a batch of images in one model
 * input; the peak and border mass in original pixels (`band`: the border's fraction per side).
 */
export async function explainImages(rm: RunScorer, cam: GradCam, band: number, images: readonly ExplainInput[], req: CamRequest = {}): Promise<Explained[]> {
  const pre = rm.preprocess;
  const x = rm.toInput(images.map((c) => c.pixels));
  let res;
  let trust;
  let deletion: ({ auc: number; random_auc: number; gain: number } | null)[] = [];
  try {
    // calibrated probabilities and the OOD verdict from the same model input
    trust = (await rm.assess(x)).rows;
    res = cam.compute(x, { target: req.target, contrast: req.contrast, method: req.method, score: req.score, cells: req.cells, patch: req.patch, baseline: req.baseline });
    if (req.faithfulness) {
      const d = req.faithfulness === true ? {} : req.faithfulness;
      const px = cam.size * cam.size;
      const all = x.dataSync() as Float32Array;
      deletion = res.map((r, i) => {
        const c = deletionCurve((t) => cam.predict(t), all.subarray(i * px, (i + 1) * px), cam.size, { map: r.cam, grid: r.grid, stride: r.stride }, r.classes.indexOf(r.target), { ...d, index: i });
        return { auc: c.auc, random_auc: c.random_auc, gain: c.gain };
      });
    }
  } finally {
    x.dispose();
  }
  return images.map((c, k) => {
    const r = res[k]!;
    const box = cropBox(c.image.width, c.image.height, pre.crop);
    const g = makeGeometry(c.image.width, c.image.height, box, pre.size, r.grid, r.stride);
    const peak = r.flat ? null : camPeak(r.cam, g);
    return {
      file: c.file,
      label: c.label,
      predicted: r.predicted,
      target: r.target,
      classes: r.classes,
      score: r.score,
      scores: r.scores,
      method: r.method,
      baseline: r.baseline,
      score_kind: r.score_kind,
      versus: r.versus,
      flat: r.flat,
      peak: peak && { x: peak.x, y: peak.y },
      deletion: deletion[k] ?? null,
      border_mass: borderMass(resampleToOriginal(r.cam, g), g.width, g.height, band),
      border_mass_input: borderMass(resampleToInput(r.cam, g), g.size, g.size, band),
      ...trustFields(trust[k]!, r.classes),
      cam: r.cam,
      geometry: g,
      image: c.image,
    };
  });
}
