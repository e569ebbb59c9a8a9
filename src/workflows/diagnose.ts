/**
 * Evidence (docs/siamese.md): why a siamese recipe does or does not learn. `probeSiamese` measures, on a
 * fixed probe set of pairs, the embedding's activations and dead-unit share, |a − b|, the spread of
 * the head's pre-sigmoid 'different' logit for same vs different pairs, and the gradient norms the
 * recipe's loss sends to the embedding, to |a − b| and to the encoder's weights.
 * `diagnoseRecipe` trains a recipe for a few steps and probes every `every` steps.
 */
import * as tf from '../tf.js';
import { balancedEpoch, pairEpoch, toModelInput } from '../data/index.js';
import type { NormStats, PreparedSet } from '../data/types.js';
import { classesOf, classIndex, type ClassName } from '../types.js';
import { createRng } from '../util/rng.js';
import { disposeModel, logitDifferent, siameseParts } from '../model/index.js';
import { getRecipe, type SiameseRecipe } from '../train/recipes.js';

export interface MeanStd {
  mean: number;
  std: number;
}

export interface ProbeStats {
  step: number;
  /** Mean training loss of the steps since the last probe. */
  loss: number;
  embedding: MeanStd & { /** units that are 0 for every probe image */ deadUnits: number; /** share of zero activations */ zeroShare: number };
  absDiff: MeanStd;
  /** Pre-sigmoid output of the distance head (Σ αᵢ|aᵢ − bᵢ| + β) for same and different pairs. */
  logitSame: MeanStd;
  logitDifferent: MeanStd;
  /** Gradient norms of the recipe's loss (L2, over the probe batch). */
  grad: { embedding: number; absDiff: number; encoderWeights: number; head: number };
  /** P(different) > 0.5 agreement with the truth on the probe pairs. */
  pairAccuracy: number;
}

function meanStd(values: ArrayLike<number>): MeanStd {
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < values.length; i++) {
    s += values[i]!;
    s2 += values[i]! * values[i]!;
  }
  const n = Math.max(values.length, 1);
  const mean = s / n;
  return { mean, std: Math.sqrt(Math.max(s2 / n - mean * mean, 0)) };
}

/** L2 norm, summed in float64 (float32 sums of squares overflow for large gradients). */
function norm(t: tf.Tensor): number {
  let s = 0;
  for (const v of t.dataSync()) s += v * v;
  return Math.sqrt(s);
}

/** The loss a recipe puts on a probe batch of pairs, from the two embeddings (for the gradients). */
function pairLoss(recipe: SiameseRecipe, head: tf.layers.Layer, ea: tf.Tensor, eb: tf.Tensor, y: tf.Tensor): tf.Scalar {
  return recipe.pairLoss(head, ea as tf.Tensor2D, eb as tf.Tensor2D, y as tf.Tensor1D);
}

/**
 * Probe a siamese model on pairs (xa[i], xb[i]) with `different[i]` (1 = different classes).
 * Activation statistics come from inference mode (no dropout); gradients from training mode.
 */
export function probeSiamese(model: tf.LayersModel, recipe: SiameseRecipe, xa: tf.Tensor4D, xb: tf.Tensor4D, different: readonly number[]): Omit<ProbeStats, 'step' | 'loss'> {
  const { encoder, distance } = siameseParts(model);
  const y = tf.tensor1d([...different]);
  try {
    let stats!: Omit<ProbeStats, 'step' | 'loss' | 'grad'>;
    tf.tidy(() => {
      const ea = encoder.apply(xa, { training: false }) as tf.Tensor2D;
      const eb = encoder.apply(xb, { training: false }) as tf.Tensor2D;
      const both = tf.concat([ea, eb], 0);
      const vals = both.dataSync();
      const n = both.shape[0];
      const units = both.shape[1];
      let dead = 0;
      let zeros = 0;
      for (let j = 0; j < units; j++) {
        let alive = false;
        for (let i = 0; i < n; i++) {
          if (vals[i * units + j] !== 0) alive = true;
          else zeros++;
        }
        if (!alive) dead++;
      }
      const z = tf.reshape(logitDifferent(distance, ea, eb), [-1]).dataSync();
      const same: number[] = [];
      const other: number[] = [];
      let ok = 0;
      different.forEach((d, i) => {
        (d ? other : same).push(z[i]!);
        if ((z[i]! > 0 ? 1 : 0) === d) ok++;
      });
      stats = {
        embedding: { ...meanStd(vals), deadUnits: dead / units, zeroShare: zeros / (n * units) },
        absDiff: meanStd(tf.abs(tf.sub(ea, eb)).dataSync()),
        logitSame: meanStd(same),
        logitDifferent: meanStd(other),
        pairAccuracy: ok / Math.max(different.length, 1),
      };
    });
    let grad!: ProbeStats['grad'];
    tf.tidy(() => {
      const ea = encoder.apply(xa, { training: true }) as tf.Tensor2D;
      const eb = encoder.apply(xb, { training: true }) as tf.Tensor2D;
      const [ga, gb] = tf.grads((a: tf.Tensor, b: tf.Tensor) => pairLoss(recipe, distance, a, b, y))([ea, eb]);
      const diff = tf.abs(tf.sub(ea, eb));
      const gd = tf.grad((d: tf.Tensor) => recipe.headLoss(distance.apply(d) as tf.Tensor, tf.reshape(y, [-1, 1])))(diff);
      const encVars = encoder.trainableWeights.map((w) => w.read() as tf.Variable);
      const headVars = distance.trainableWeights.map((w) => w.read() as tf.Variable);
      const { grads } = tf.variableGrads(() => {
        const a = encoder.apply(xa, { training: true }) as tf.Tensor;
        const b = encoder.apply(xb, { training: true }) as tf.Tensor;
        return pairLoss(recipe, distance, a, b, y);
      }, [...encVars, ...headVars]);
      const sq = (vs: tf.Variable[]) => Math.sqrt(vs.reduce((s, v) => s + norm(grads[v.name]!) ** 2, 0));
      grad = {
        embedding: Math.sqrt(norm(ga!) ** 2 + norm(gb!) ** 2),
        absDiff: norm(gd),
        encoderWeights: sq(encVars),
        head: sq(headVars),
      };
    });
    return { ...stats, grad };
  } finally {
    y.dispose();
  }
}

export interface DiagnoseOptions {
  recipe: string;
  modelConfig: { size: number; width: number; fc: number; seed: number };
  lr: number;
  /** Pairs (pair recipes) or images (batch recipes) per step. */
  batch: number;
  steps: number;
  every: number;
  /** Probe pairs (half same, half different), drawn once from the training images. */
  probePairs: number;
  seed: number;
  onProbe?: (s: ProbeStats) => void;
}

function input(set: PreparedSet, idx: number[], stats: NormStats): tf.Tensor4D {
  return tf.tensor4d(toModelInput(set, idx, stats), [idx.length, set.size, set.size, 1]);
}

/** Train `opts.recipe` for `opts.steps` steps on `train`, probing before the first step and every `every` steps. */
export function diagnoseRecipe(train: PreparedSet, stats: NormStats, opts: DiagnoseOptions): ProbeStats[] {
  const recipe = getRecipe(opts.recipe);
  const labels: ClassName[] = train.items.map((it) => it.label);
  const rng = createRng(opts.seed);
  const probe = pairEpoch(labels, opts.probePairs, createRng(opts.seed ^ 0x9e37));
  const pa = input(train, probe.map((p) => p.a), stats);
  const pb = input(train, probe.map((p) => p.b), stats);
  const pd = probe.map((p) => (p.same ? 0 : 1));
  const model = recipe.buildModel(opts.modelConfig);
  const opt = tf.train.adam(opts.lr);
  const out: ProbeStats[] = [];
  let queue: number[][] = [];
  let lossSum = 0;
  let lossN = 0;
  const nextBatch = (): number[][] => {
    if (recipe.kind === 'batch') {
      if (queue.length === 0) {
        const order = balancedEpoch(labels, rng);
        for (let i = 0; i + opts.batch <= order.length; i += opts.batch) queue.push(order.slice(i, i + opts.batch));
      }
      return [queue.shift()!];
    }
    const ps = pairEpoch(labels, opts.batch, rng);
    return [ps.map((p) => p.a), ps.map((p) => p.b), ps.map((p) => (p.same ? 0 : 1))];
  };
  try {
    for (let s = 0; s <= opts.steps; s++) {
      if (s % opts.every === 0 || s === opts.steps) {
        const p: ProbeStats = { step: s, loss: lossN ? lossSum / lossN : NaN, ...probeSiamese(model, recipe, pa, pb, pd) };
        out.push(p);
        opts.onProbe?.(p);
        lossSum = lossN = 0;
      }
      if (s === opts.steps) break;
      const b = nextBatch();
      const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const xs = recipe.kind === 'batch' ? [input(train, b[0]!, stats)] : [input(train, b[0]!, stats), input(train, b[1]!, stats), tf.tensor2d(b[2]!, [b[2]!.length, 1])];
      const { value, grads } = tf.variableGrads(() => {
        if (recipe.kind === 'batch') return recipe.batchLoss(model, xs[0] as tf.Tensor4D, b[0]!.map((j) => classIndex(labels[j]!, classesOf(labels))));
        return recipe.headLoss(model.apply([xs[0]!, xs[1]!], { training: true }) as tf.Tensor, xs[2]!);
      }, vars);
      tf.dispose(xs);
      opt.applyGradients(vars.map((v) => ({ name: v.name, tensor: grads[v.name]! })));
      tf.dispose(grads);
      for (const w of model.trainableWeights) if (w.constraint) tf.tidy(() => (w.read() as tf.Variable).assign(w.constraint.apply(w.read())));
      lossSum += value.dataSync()[0]!;
      lossN++;
      value.dispose();
    }
  } finally {
    opt.dispose();
    disposeModel(model);
    tf.dispose([pa, pb]);
  }
  return out;
}
