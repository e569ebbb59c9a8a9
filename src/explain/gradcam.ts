/**
 * Grad-CAM (Selvaraju et al.) on the last convolutional features of COVID-Net, the layer named
 * `feature_sum` (size/32 × size/32 × C, the sum of the last stage before `flatten`):
 *   weights α_c = spatial mean of ∂score/∂A_c;  cam = ReLU(Σ_c α_c A_c).
 * The model is split at `feature_sum`: a sub-model computes the features, and the layers after
 * it (a plain chain: flatten, dropout, dense, …) are applied to a tensor so tf.grad can
 * differentiate the score with respect to the features.
 *
 * Single net: score = the target class's logit (pre-softmax).
 * Siamese net: score = similarity of the image's embedding to the target class template,
 * as the negated pre-sigmoid output of the `distance` layer: −(Σ αᵢ|eᵢ − tᵢ| + β); optionally
 * minus the same similarity to a `contrast` class's template (what separates the two).
 */
import * as tf from '../tf.js';
import { CLASSES, classIndex, type ClassName } from '../types.js';
import { CovidNetError } from '../errors.js';
import { logitDifferent } from '../model/covidnet.js';
import { argmax } from '../model/infer.js';
import type { RunScorer } from '../run/scorer.js';
import { featureStride } from './geometry.js';
import { perturbationMaps } from './perturbation.js';
import { DEFAULT_HEAT_METHOD, DEFAULT_PERTURBATION_BASELINE, HEAT_METHODS, HEAT_SCORES, defaultHeatScore, type HeatMethod, type HeatScore, type PerturbationBaseline } from './methods.js';

export const FEATURE_LAYER = 'feature_sum';

export { DEFAULT_HEAT_METHOD, HEAT_METHODS, HEAT_METHOD_LABEL, HEAT_SCORES, type HeatMethod, type HeatScore } from './methods.js';

export interface CamOptions {
  /** Class to explain per image (or one for all); undefined = the predicted class. */
  target?: ClassName | readonly (ClassName | undefined)[] | undefined;
  /** Siamese only: explain similarity to `target` minus similarity to this class's template. */
  contrast?: ClassName | undefined;
  /** Default DEFAULT_HEAT_METHOD. */
  method?: HeatMethod | undefined;
  /** Default `defaultHeatScore(method)`. */
  score?: HeatScore | undefined;
  /** Perturbation methods: cells per side (default 8) and patch side in cells (default 1). */
  cells?: number | undefined;
  patch?: number | undefined;
  /** Perturbation methods: what removed evidence becomes (default blur) and the blur's σ in input pixels (default one cell). */
  baseline?: PerturbationBaseline | undefined;
  blurSigma?: number | undefined;
}

export interface CamResult {
  /** grid×grid heat map, row-major, ≥ 0, not normalised. */
  cam: Float32Array;
  grid: number;
  /** Input pixels per map cell. */
  stride: number;
  method: HeatMethod;
  /** What removed evidence became (perturbation methods); null for Grad-CAM. */
  baseline: PerturbationBaseline | null;
  score_kind: HeatScore;
  /** The class the margin is taken against (runner-up or contrast); null for `class` without contrast. */
  versus: ClassName | null;
  /** True when the map is all zero: no positive evidence for the explained score (there is no peak). */
  flat: boolean;
  predicted: ClassName;
  target: ClassName;
  /** The classes of `scores`, in order (the run's). */
  classes: readonly ClassName[];
  /** Per class (`classes` order): softmax probability (single) or similarity 1 − P(different) to the class template (siamese). */
  scores: number[];
  /** `scores` of the target class. */
  score: number;
}

type Kind = 'single' | 'siamese';

export class GradCam {
  readonly kind: Kind;
  readonly size: number;
  readonly grid: number;
  /** The classes scored, in output order (the run's). */
  readonly classes: readonly ClassName[];
  private readonly features: tf.LayersModel;
  private readonly head: tf.layers.Layer[];
  private readonly templates: tf.Tensor2D | undefined;
  /** Siamese: the `distance` head, σ(Σ αᵢ|aᵢ − bᵢ| + β) = P(different). */
  private readonly distance: tf.layers.Layer | undefined;
  /** Runs the trunk (no gradient flows into it): the run's forward path, the compiled plan on onednn. */
  private forward: (model: tf.LayersModel, x: tf.Tensor4D) => tf.Tensor[] = (m, x) => [m.predict(x) as tf.Tensor];

  private constructor(kind: Kind, net: tf.LayersModel, headEnd: string, classes: readonly ClassName[], siamese?: { templates: readonly (readonly number[])[]; distance: tf.layers.Layer }) {
    this.kind = kind;
    this.classes = classes;
    const feat = getLayer(net, FEATURE_LAYER);
    this.features = tf.model({ inputs: net.inputs, outputs: feat.output as tf.SymbolicTensor });
    this.head = layerChain(feat, headEnd);
    const inShape = net.inputs[0]!.shape;
    const fShape = (feat.output as tf.SymbolicTensor).shape;
    this.size = inShape[1] ?? 0;
    this.grid = fShape[1] ?? 0;
    if (!this.size || !this.grid || fShape[1] !== fShape[2]) {
      throw new CovidNetError('E_RUN', `unexpected shapes: input ${JSON.stringify(inShape)}, ${FEATURE_LAYER} ${JSON.stringify(fShape)}`);
    }
    if (siamese) {
      this.distance = siamese.distance;
      if (siamese.templates.length !== classes.length) {
        throw new CovidNetError('E_RUN', `expected ${classes.length} class templates (${classes.join(', ')}), got ${siamese.templates.length}`);
      }
      this.templates = tf.keep(tf.tensor2d(siamese.templates as number[][]));
    }
  }

  /** Grad-CAM for an opened run: the single net, or the siamese net against the run's class templates. */
  static forRun(run: RunScorer): GradCam {
    const cam = run.kind === 'siamese' ? GradCam.siamese(run.model, run.requireTemplates().templates, run.classes) : GradCam.single(run.model, run.classes);
    cam.forward = (m, x) => run.runForward(m, x);
    return cam;
  }

  /** Grad-CAM for a single COVID-Net (a model with `feature_sum` and `logits` layers). */
  static single(model: tf.LayersModel, classes: readonly ClassName[] = CLASSES): GradCam {
    const units = model.getLayer('logits').outputShape as number[];
    if (units[units.length - 1] !== classes.length) throw new CovidNetError('E_RUN', `the model scores ${String(units[units.length - 1])} classes, given ${classes.length} (${classes.join(', ')})`);
    return new GradCam('single', model, 'logits', classes);
  }

  /**
   * Grad-CAM for a siamese COVID-Net (nested `encoder` model with its own `feature_sum`, and a
   * `distance` dense layer) against class templates (mean embedding per class, in the order of `classes`).
   */
  static siamese(model: tf.LayersModel, templates: readonly (readonly number[])[], classes: readonly ClassName[] = CLASSES): GradCam {
    const encoder = getLayer(model, 'encoder') as unknown as tf.LayersModel;
    if (!Array.isArray(encoder.inputs) || !encoder.outputs) throw new CovidNetError('E_RUN', 'layer `encoder` is not a model');
    const end = encoder.outputs[0]!.sourceLayer.name;
    return new GradCam('siamese', encoder, end, classes, { templates, distance: getLayer(model, 'distance') });
  }

  /** Releases the tensors this object holds (not the model's weights). */
  dispose(): void {
    this.templates?.dispose();
  }

  /** Heat maps for a batch of model inputs [n, size, size, 1] (already standardised). */
  compute(x: tf.Tensor4D, opts: CamOptions = {}): CamResult[] {
    const n = x.shape[0];
    const method = opts.method ?? DEFAULT_HEAT_METHOD;
    const scoreKind = opts.score ?? defaultHeatScore(method);
    const baseline = method === 'gradcam' ? null : (opts.baseline ?? DEFAULT_PERTURBATION_BASELINE);
    if (!(HEAT_METHODS as readonly string[]).includes(method)) throw new CovidNetError('E_OPTION', `method must be one of ${HEAT_METHODS.join(', ')}, got ${String(method)}`);
    if (!(HEAT_SCORES as readonly string[]).includes(scoreKind)) throw new CovidNetError('E_OPTION', `score must be one of ${HEAT_SCORES.join(', ')}, got ${String(scoreKind)}`);
    const contrast = opts.contrast === undefined ? -1 : this.indexOf(opts.contrast);
    if (contrast >= 0 && this.kind !== 'siamese') throw new CovidNetError('E_OPTION', 'contrast is for the siamese net only');
    // Grad-CAM needs the features anyway: the trunk runs once for both the logits and the map
    const feats = method === 'gradcam' ? tf.keep(this.forward(this.features, x)[0] as tf.Tensor4D) : undefined;
    try {
      const logits = feats ? this.logitsFromFeatures(feats) : this.logitsOf(x);
      const k = this.classes.length;
      const scores: number[][] = [];
      const pairs: { target: number; other: number }[] = [];
      for (let i = 0; i < n; i++) {
        const l = Array.from(logits.subarray(i * k, (i + 1) * k));
        scores.push(this.toScores(l));
        const t = this.indexOf(targetFor(opts.target, i) ?? this.classes[argmax(l)]!);
        let other = contrast;
        if (other < 0 && scoreKind === 'margin') {
          // the runner-up: the highest logit among the other classes
          for (let j = 0; j < k; j++) if (j !== t && (other < 0 || l[j]! > l[other]!)) other = j;
        }
        pairs.push({ target: t, other });
      }
      let maps: Float32Array[];
      let grid = this.grid;
      let stride = featureStride(this.size, this.grid);
      if (method === 'gradcam') {
        maps = this.gradcamMaps(feats!, pairs);
      } else {
        // `class` score without a contrast: a margin against an appended zero logit is the logit itself
        const own = pairs.some((p) => p.other < 0);
        const fn = own ? (t: tf.Tensor4D) => withZeroColumn(this.logitsOf(t), k) : (t: tf.Tensor4D) => this.logitsOf(t);
        const res = perturbationMaps(fn, x, pairs.map((p) => ({ target: p.target, other: p.other < 0 ? k : p.other })), { method, cells: opts.cells, patch: opts.patch, baseline: baseline ?? undefined, blurSigma: opts.blurSigma });
        maps = res.map((r) => r.map);
        grid = res[0]?.cells ?? grid;
        stride = res[0]?.stride ?? stride;
      }
      return maps.map((cam, i) => {
        const s = scores[i]!;
        const p = pairs[i]!;
        return {
          cam,
          grid,
          stride,
          method,
          baseline,
          score_kind: scoreKind,
          versus: p.other >= 0 ? this.classes[p.other]! : null,
          flat: !cam.some((v) => v > 0),
          predicted: this.classes[argmax(s)]!,
          target: this.classes[p.target]!,
          classes: this.classes,
          scores: s,
          score: s[p.target]!,
        };
      });
    } finally {
      feats?.dispose();
    }
  }

  /** [n × classes] logits (single) or negated pre-sigmoid template distances (siamese), no gradients. */
  logitsOf(x: tf.Tensor4D): Float32Array {
    return tf.tidy(() => this.logitsFromFeatures(this.forward(this.features, x)[0] as tf.Tensor4D));
  }

  private logitsFromFeatures(feats: tf.Tensor4D): Float32Array {
    return tf.tidy(() => this.classLogits(this.applyHead(feats)).dataSync() as Float32Array);
  }

  /** Per class scores from one image's logits: softmax (single) or similarity 1 − σ(−l) (siamese). */
  private toScores(l: readonly number[]): number[] {
    if (this.kind === 'siamese') return l.map((v) => 1 - 1 / (1 + Math.exp(v)));
    const m = Math.max(...l);
    const e = l.map((v) => Math.exp(v - m));
    const z = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / z);
  }

  /** Grad-CAM of l_target − l_other (l_target alone where other < 0) at `feature_sum`. */
  private gradcamMaps(feats: tf.Tensor4D, pairs: readonly { target: number; other: number }[]): Float32Array[] {
    const n = feats.shape[0];
    const k = this.classes.length;
    // the gradient is taken with respect to the features, so the trunk needs no tape
    const cams = tf.tidy(() => {
      // masks built as float32 in JS: no int32 tensors enter the float maths (backends differ in
      // how they treat mixed dtypes); the mask is +1 on the target and −1 on the other class
      const mask = new Float32Array(n * k);
      pairs.forEach((p, i) => {
        mask[i * k + p.target] = 1;
        if (p.other >= 0) mask[i * k + p.other] = -1;
      });
      const m = tf.tensor2d(mask, [n, k]);
      // Samples are independent (no batch statistics), so the gradient of the summed scores gives
      // each sample's own gradient.
      const grads = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(this.classLogits(this.applyHead(a as tf.Tensor4D)), m)))(feats);
      const alpha = tf.mean(grads, [1, 2], true); // [n, 1, 1, C]
      const cam = tf.relu(tf.sum(tf.mul(feats, alpha), 3)); // [n, g, g]
      return cam.dataSync() as Float32Array;
    });
    const g2 = this.grid * this.grid;
    return Array.from({ length: n }, (_, i) => cams.slice(i * g2, (i + 1) * g2));
  }

  /** Class predictions only (no gradients): per class scores as in CamResult. */
  predict(x: tf.Tensor4D): number[][] {
    const l = this.logitsOf(x);
    const k = this.classes.length;
    return Array.from({ length: x.shape[0] }, (_, i) => this.toScores(Array.from(l.subarray(i * k, (i + 1) * k))));
  }

  private indexOf(c: ClassName): number {
    const j = classIndex(c, this.classes);
    if (j < 0) throw new CovidNetError('E_OPTION', `class ${c} is not one of the run's classes (${this.classes.join(', ')})`);
    return j;
  }

  private applyHead(a: tf.Tensor): tf.Tensor {
    let h = a;
    for (const layer of this.head) h = layer.apply(h, { training: false }) as tf.Tensor;
    return h;
  }

  /** [n, classes]: logits (single) or negated pre-sigmoid distance to each class template (siamese). */
  private classLogits(h: tf.Tensor): tf.Tensor2D {
    if (this.kind === 'single') return h as tf.Tensor2D;
    const e = h as tf.Tensor2D; // [n, 256]
    const cols: tf.Tensor[] = [];
    for (let k = 0; k < this.classes.length; k++) {
      const t = tf.slice(this.templates!, [k, 0], [1, -1]); // [1, 256]
      cols.push(tf.neg(logitDifferent(this.distance!, e, t))); // [n, 1]
    }
    return tf.concat(cols, 1) as tf.Tensor2D;
  }
}

function getLayer(model: tf.LayersModel, name: string): tf.layers.Layer {
  try {
    return model.getLayer(name);
  } catch {
    throw new CovidNetError('E_RUN', `the model has no layer named \`${name}\` (not a COVID-Net model of this tool?)`);
  }
}

/** The layers after `from` up to and including the one named `to`, which must form a simple chain. */
export function layerChain(from: tf.layers.Layer, to: string): tf.layers.Layer[] {
  const chain: tf.layers.Layer[] = [];
  let cur = from;
  while (cur.name !== to) {
    const next = cur.outboundNodes.map((nd) => nd.outboundLayer);
    if (next.length !== 1 || !next[0]) {
      throw new CovidNetError('E_RUN', `cannot split the model after \`${cur.name}\`: ${next.length} outbound layers (expected a chain to \`${to}\`)`);
    }
    cur = next[0];
    if (cur.inboundNodes.length !== 1 || cur.inboundNodes[0]!.inboundLayers.length !== 1) {
      throw new CovidNetError('E_RUN', `cannot split the model at \`${cur.name}\`: it has several inputs`);
    }
    chain.push(cur);
    if (chain.length > 64) throw new CovidNetError('E_RUN', `no chain of layers from \`${from.name}\` to \`${to}\``);
  }
  return chain;
}

/** Appends a zero logit column to [n × k] logits (a margin against it is the logit itself). */
function withZeroColumn(l: Float32Array, k: number): Float32Array {
  const n = l.length / k;
  const out = new Float32Array(n * (k + 1));
  for (let i = 0; i < n; i++) out.set(l.subarray(i * k, (i + 1) * k), i * (k + 1));
  return out;
}

function targetFor(t: CamOptions['target'], i: number): ClassName | undefined {
  if (t === undefined) return undefined;
  if (typeof t === 'string') return t as ClassName;
  return (t as readonly (ClassName | undefined)[])[i];
}
