/**
 * The study's COVID-Net variant (README "Models", docs/training.md), layer for layer as the PyTorch
 * mirror used for speed comparisons (docs/performance.md): 7×7/2 stem, four stages of PEPX modules (3, 4, 6, 3) with an
 * "upper layer" (1×1 conv + 2×2 max-pool) per stage and dense skip sums, then the FC head.
 * Glorot-uniform kernels and zero biases (Keras defaults; docs/training.md explains why this matters).
 */
import * as tf from '../tf.js';
import { CovidNetError, optionError } from '../errors.js';
import { AbsDiff, L2Normalize, registerCustomLayers } from './layers.js';

export interface CovidNetConfig {
  /** Input side in pixels, at least 32 (five halvings down to the last stage, floor(size/32)). Study: 224. */
  size: number;
  /** Output channels of the first stage's PEPX modules (doubles per stage); a multiple of 4. Study: 128. */
  width: number;
  /** Units of the first fully connected layer. Study: 1024. */
  fc: number;
  /** Seed of the weight initialisation; undefined = random. */
  seed?: number | undefined;
  /** Dropout rates of the head (after flatten, after fc, after the 256-unit layer). Study: 0.5, 0.2, 0.2. */
  dropout?: readonly [number, number, number] | undefined;
  /** L2-normalise the embedding (layer `embedding_l2`) so pair distances are bounded; default off (study). */
  normalizeEmbedding?: boolean | undefined;
  /**
   * Siamese distance head: `free` (study: Glorot kernel of either sign) or `metric` (kernel kept
   * non-negative and started at 0.25, bias −1, so P(different) grows with every |aᵢ − bᵢ| from the first step).
   */
  distanceHead?: 'free' | 'metric' | undefined;
  /** Single net: number of classes (units of `logits`). Study: 3. */
  classes?: number | undefined;
}

export const STUDY_MODEL: Readonly<CovidNetConfig> = { size: 224, width: 128, fc: 1024 };
/** A configuration a 2-core CPU can train in minutes. */
export const CPU_MODEL: Readonly<CovidNetConfig> = { size: 112, width: 32, fc: 256 };

/** Units of the embedding (the layer the siamese net compares). */
export const EMBEDDING_UNITS = 256;
/** PEPX modules per stage (ResNet-50-like 3, 4, 6, 3). */
export const STAGE_DEPTHS = [3, 4, 6, 3] as const;

export function validateModelConfig(c: Partial<CovidNetConfig>): CovidNetConfig {
  const size = c.size ?? STUDY_MODEL.size;
  const width = c.width ?? STUDY_MODEL.width;
  const fc = c.fc ?? STUDY_MODEL.fc;
  if (!Number.isInteger(size) || size < 32) throw optionError('size', 'an integer of at least 32', size);
  if (!Number.isInteger(width) || width < 4 || width % 4 !== 0) throw optionError('width', 'a multiple of 4, at least 4', width);
  if (!Number.isInteger(fc) || fc < 1) throw optionError('fc', 'a positive integer', fc);
  const dropout = c.dropout ?? [0.5, 0.2, 0.2];
  for (const r of dropout) if (!(r >= 0 && r < 1)) throw optionError('dropout', 'rates in [0, 1)', dropout);
  const distanceHead = c.distanceHead ?? 'free';
  if (distanceHead !== 'free' && distanceHead !== 'metric') throw optionError('distanceHead', 'free or metric', distanceHead);
  const classes = c.classes ?? 3;
  if (!Number.isInteger(classes) || classes < 2) throw optionError('classes', 'an integer of at least 2', classes);
  return { size, width, fc, seed: c.seed, dropout, normalizeEmbedding: c.normalizeEmbedding ?? false, distanceHead, classes };
}

type Sym = tf.SymbolicTensor;

/** Builds layers with distinct, reproducible initialiser seeds. */
class Builder {
  private n = 0;
  constructor(private readonly seed: number | undefined) {}

  private init(): ReturnType<typeof tf.initializers.glorotUniform> {
    return tf.initializers.glorotUniform(this.seed === undefined ? {} : { seed: this.seed + 7919 * this.n++ });
  }

  conv(x: Sym, filters: number, kernel: number, stride: number, name: string): Sym {
    return tf.layers
      .conv2d({ filters, kernelSize: kernel, strides: stride, padding: 'same', activation: 'relu', kernelInitializer: this.init(), name })
      .apply(x) as Sym;
  }

  depthwise(x: Sym, name: string): Sym {
    return tf.layers
      .depthwiseConv2d({ kernelSize: 3, depthMultiplier: 1, padding: 'same', activation: 'relu', depthwiseInitializer: this.init(), name })
      .apply(x) as Sym;
  }

  dense(x: Sym, units: number, activation: 'relu' | 'linear' | 'sigmoid', name: string): Sym {
    return tf.layers.dense({ units, activation, kernelInitializer: this.init(), name }).apply(x) as Sym;
  }

  pool(x: Sym, name: string): Sym {
    return tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name }).apply(x) as Sym;
  }

  sum(xs: Sym[], name: string): Sym {
    return xs.length === 1 ? xs[0]! : (tf.layers.add({ name }).apply(xs) as Sym);
  }

  /** PEPX: projection → expansion → 3×3 depthwise → projection → extension, all 1×1 but the depthwise. */
  pepx(x: Sym, proj: number, expand: number, out: number, name: string): Sym {
    let h = this.conv(x, proj, 1, 1, `${name}/project1`);
    h = this.conv(h, expand, 1, 1, `${name}/expand`);
    h = this.depthwise(h, `${name}/depthwise`);
    h = this.conv(h, proj, 1, 1, `${name}/project2`);
    return this.conv(h, out, 1, 1, `${name}/extend`);
  }
}

/**
 * The convolutional trunk up to `feature_sum` (size/32 × size/32 × 8·width).
 * Wiring (as the mirror): each module's input is the sum of the earlier module outputs of its stage
 * plus the stage's upper-layer (UL) output; a stage's first module takes the sum of all outputs of
 * the previous stage (UL included) and is max-pooled.
 */
function trunk(b: Builder, input: Sym, width: number): Sym {
  const stem = b.conv(input, 64, 7, 2, 'stem/conv');
  // Stage 1: the first module's internal plan is fixed by the 64-channel stem (32 → 48 → 48 → 32).
  let ul = b.pool(b.conv(stem, width, 1, 1, 'stage1/ul/conv'), 'stage1/ul/pool');
  let outs: Sym[] = [b.pool(b.pepx(stem, 32, 48, width, 'stage1/pepx1'), 'stage1/pepx1/pool')];
  for (let m = 2; m <= STAGE_DEPTHS[0]; m++) {
    const inp = b.sum([...outs, ul], `stage1/pepx${m}/input`);
    outs.push(b.pepx(inp, width / 2, (3 * width) / 4, width, `stage1/pepx${m}`));
  }
  outs.push(ul);
  let p = width;
  for (let s = 2; s <= 4; s++) {
    const total = b.sum(outs, `stage${s}/input`);
    ul = b.pool(b.conv(total, 2 * p, 1, 1, `stage${s}/ul/conv`), `stage${s}/ul/pool`);
    const stage: Sym[] = [b.pool(b.pepx(total, p / 2, (3 * p) / 4, 2 * p, `stage${s}/pepx1`), `stage${s}/pepx1/pool`)];
    p *= 2;
    for (let m = 2; m <= STAGE_DEPTHS[s - 1]!; m++) {
      const inp = b.sum([...stage, ul], `stage${s}/pepx${m}/input`);
      stage.push(b.pepx(inp, p / 2, (3 * p) / 4, p, `stage${s}/pepx${m}`));
    }
    outs = [...stage, ul];
  }
  return b.sum(outs, 'feature_sum');
}

/** Flatten → dropout → FC(fc, ReLU) → dropout → FC(256, ReLU) → dropout: the 256-d embedding. */
function head(b: Builder, features: Sym, c: CovidNetConfig): Sym {
  const [d1, d2, d3] = c.dropout ?? [0.5, 0.2, 0.2];
  let h = tf.layers.flatten({ name: 'flatten' }).apply(features) as Sym;
  h = tf.layers.dropout({ rate: d1, name: 'dropout1' }).apply(h) as Sym;
  h = b.dense(h, c.fc, 'relu', 'fc1');
  h = tf.layers.dropout({ rate: d2, name: 'dropout2' }).apply(h) as Sym;
  h = b.dense(h, EMBEDDING_UNITS, 'relu', 'fc2');
  h = tf.layers.dropout({ rate: d3, name: 'dropout3' }).apply(h) as Sym;
  return c.normalizeEmbedding ? (new L2Normalize({ name: 'embedding_l2' }).apply(h) as Sym) : h;
}

function imageInput(size: number, name: string): Sym {
  return tf.input({ shape: [size, size, 1], name });
}

/** Single COVID-Net: image → class probabilities (the study's normal, pneumonia, COVID-19 unless `classes` says). Layers `logits` (pre-softmax) and `probs`. */
export function covidNet(config: Partial<CovidNetConfig> = {}): tf.LayersModel {
  const c = validateModelConfig(config);
  const b = new Builder(c.seed);
  const input = imageInput(c.size, 'image');
  const emb = head(b, trunk(b, input, c.width), c);
  const logits = b.dense(emb, c.classes ?? 3, 'linear', 'logits');
  const probs = tf.layers.activation({ activation: 'softmax', name: 'probs' }).apply(logits) as Sym;
  return tf.model({ inputs: input, outputs: probs, name: 'covidnet' });
}

/** The shared encoder of the siamese net: image → 256-d embedding (model name `encoder`). */
export function covidEncoder(config: Partial<CovidNetConfig> = {}): tf.LayersModel {
  registerCustomLayers();
  const c = validateModelConfig(config);
  const b = new Builder(c.seed);
  const input = imageInput(c.size, 'image');
  return tf.model({ inputs: input, outputs: head(b, trunk(b, input, c.width), c), name: 'encoder' });
}

/**
 * Siamese COVID-Net: two images → one shared `encoder` → |a − b| (`AbsDiff`) → dense(1, sigmoid)
 * named `distance`: d = σ(Σ αᵢ|aᵢ − bᵢ| + β), the probability that the pair is DIFFERENT
 * (same = 0, different = 1, as in the study).
 */
export function siameseCovidNet(config: Partial<CovidNetConfig> = {}): tf.LayersModel {
  registerCustomLayers();
  const c = validateModelConfig(config);
  const encoder = covidEncoder(c);
  const a = imageInput(c.size, 'image_a');
  const bIn = imageInput(c.size, 'image_b');
  const ea = encoder.apply(a) as Sym;
  const eb = encoder.apply(bIn) as Sym;
  const diff = new AbsDiff({ name: 'abs_diff' }).apply([ea, eb]) as Sym;
  const seed = c.seed === undefined ? undefined : c.seed + 104729;
  const kernel =
    c.distanceHead === 'metric'
      ? // 0.25 per unit: for unit embeddings Σ|aᵢ − bᵢ| ≤ 16√2, so the logit starts within about ±5 (no float32 saturation of P)
        { kernelInitializer: tf.initializers.constant({ value: 0.25 }), biasInitializer: tf.initializers.constant({ value: -1 }), kernelConstraint: tf.constraints.nonNeg() }
      : { kernelInitializer: tf.initializers.glorotUniform(seed === undefined ? {} : { seed }) };
  const out = tf.layers.dense({ units: 1, activation: 'sigmoid', ...kernel, name: 'distance' }).apply(diff) as Sym;
  return tf.model({ inputs: [a, bIn], outputs: out, name: 'siamese_covidnet' });
}

/** The parts of a siamese model that testing needs: the encoder and the distance layer. */
export function siameseParts(model: tf.LayersModel): { encoder: tf.LayersModel; distance: tf.layers.Layer } {
  const encoder = model.getLayer('encoder') as unknown as tf.LayersModel;
  return { encoder, distance: model.getLayer('distance') };
}

/**
 * The siamese head on pairs of embeddings: P(different) = σ(Σ αᵢ|aᵢ − bᵢ| + β), shape [n, 1].
 * The one place |a − b| meets the head outside the model graph (validation, templates, scores);
 * `logitDifferent` is its pre-sigmoid twin for Grad-CAM.
 */
export function probabilityDifferent(head: tf.layers.Layer, a: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
  return tf.tidy(() => head.apply(tf.abs(tf.sub(a, b))) as tf.Tensor2D);
}

/**
 * The logit z of P(different) = σ(z): z = Σ αᵢ|aᵢ − bᵢ| + β, shape [n, 1]. Grad-CAM needs it
 * because the sigmoid saturates; the one place that reads the head's kernel and bias.
 */
export function logitDifferent(head: tf.layers.Layer, a: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
  const [kernel, bias] = head.getWeights();
  if (!kernel || !bias) throw new CovidNetError('E_RUN', `the siamese head \`${head.name}\` has no kernel/bias`);
  return tf.tidy(() => tf.add(tf.matMul(tf.abs(tf.sub(a, b)) as tf.Tensor2D, kernel as tf.Tensor2D), bias) as tf.Tensor2D);
}

/** Name of the single net's class layer (dense(3) before the softmax). */
export const LOGITS_LAYER = 'logits';

/**
 * The single net's 256-unit embedding, the input of its `logits` layer (after `fc2` and its
 * dropout, or `embedding_l2`), as a symbolic tensor of the model graph.
 */
export function singleEmbeddingOutput(model: tf.LayersModel): tf.SymbolicTensor {
  const input = model.getLayer(LOGITS_LAYER).input;
  if (Array.isArray(input)) throw new CovidNetError('E_RUN', `the layer \`${LOGITS_LAYER}\` has ${input.length} inputs, expected one`);
  return input;
}

/**
 * The single net's class logits from its embedding: z = e·W + b, shape [n, 3] (softmax(z) is the
 * model's output). The one place that reads the `logits` layer's kernel and bias (the energy
 * score and temperature scaling need z, which the model does not output).
 */
export function singleLogits(model: tf.LayersModel, embedding: tf.Tensor2D): tf.Tensor2D {
  const [kernel, bias] = model.getLayer(LOGITS_LAYER).getWeights();
  if (!kernel || !bias) throw new CovidNetError('E_RUN', `the layer \`${LOGITS_LAYER}\` has no kernel/bias`);
  return tf.tidy(() => tf.add(tf.matMul(embedding, kernel as tf.Tensor2D), bias) as tf.Tensor2D);
}

/** The first convolution (7×7/2), whose channel statistics the out-of-distribution detector reads. */
export const STEM_LAYER = 'stem/conv';

/**
 * Per-channel mean and standard deviation over the image of a feature map [n, h, w, c] (its
 * values, row-major) → n rows of 2c (means, then standard deviations). In float64 JavaScript:
 * a reduction over the middle axes is 40× slower through TF.js's CPU kernels.
 */
export function stemStatistics(values: ArrayLike<number>, shape: readonly number[]): Float32Array[] {
  const [n = 0, h = 0, w = 0, c = 0] = shape;
  const hw = h * w;
  const rows: Float32Array[] = [];
  const m = new Float64Array(c);
  const q = new Float64Array(c);
  for (let b = 0; b < n; b++) {
    m.fill(0);
    q.fill(0);
    const base = b * hw * c;
    for (let p = 0; p < hw; p++) {
      const o = base + p * c;
      for (let k = 0; k < c; k++) {
        const v = values[o + k]!;
        m[k]! += v;
        q[k]! += v * v;
      }
    }
    const row = new Float32Array(2 * c);
    for (let k = 0; k < c; k++) {
      const mu = m[k]! / hw;
      row[k] = mu;
      row[c + k] = Math.sqrt(Math.max(0, q[k]! / hw - mu * mu));
    }
    rows.push(row);
  }
  return rows;
}

/**
 * A model sharing a run model's weights with the outputs the trust signals need, in one forward
 * pass: [stem, embedding, probabilities] (single) or [stem, embedding] (siamese: its encoder).
 * Not to be disposed on its own (its layers are the run model's).
 */
export function trustFeatureModel(model: tf.LayersModel, kind: 'single' | 'siamese'): tf.LayersModel {
  if (kind === 'single') {
    return tf.model({ inputs: model.inputs, outputs: [model.getLayer(STEM_LAYER).output as tf.SymbolicTensor, singleEmbeddingOutput(model), model.outputs[0]!] });
  }
  const { encoder } = siameseParts(model);
  return tf.model({ inputs: encoder.inputs, outputs: [encoder.getLayer(STEM_LAYER).output as tf.SymbolicTensor, encoder.outputs[0]!] });
}

/**
 * Dispose a model and the models nested in it. TF.js's `LayersModel.dispose()` leaves a nested
 * model's weights alive when the nested model was applied more than once (the siamese encoder).
 */
export function disposeModel(model: tf.LayersModel): void {
  const nested = model.layers.filter((l): l is tf.LayersModel => l instanceof tf.LayersModel);
  model.dispose();
  for (const n of nested) {
    try {
      n.dispose();
    } catch {
      // already disposed through the outer model
    }
  }
}
