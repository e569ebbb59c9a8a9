/**
 * Training-time speed-ups of the `onednn` backend that sit above the kernels. They patch
 * tfjs-layers' Conv2D / DepthwiseConv2D / Add and tfjs-core's AdamOptimizer prototypes, so they
 * are scoped: on only inside `withTrainingFusion(fn)` (covidnet's own training runs it), restored
 * afterwards, and inert on every other backend even then:
 *
 * - Conv2D / DepthwiseConv2D layers with bias and ReLU: while gradients are recorded TF.js does
 *   not fuse (conv, then Add for the bias, then Relu; backward Step, Multiply and a bias Sum).
 *   Here the layer's `call` runs one kernel of ours, CONV_BIAS_RELU (the fused conv with a ReLU
 *   post-op), whose registered gradient is one native kernel that applies the ReLU mask once and
 *   computes the input (only when asked for), weight and bias gradients.
 * - Add layers (the dense skip sums): running sums (an earlier sum plus the rest) and one AddN
 *   instead of a chain of Adds.
 * - tf.train.adam: a fused, in-place native update instead of ~12 temporaries per variable.
 *
 * Only how values are computed changes: the layers, their weights, names and configs are the
 * standard TF.js ones, so saved models load anywhere. Inference gives the same values with or
 * without the patches (the fused inference kernels, FusedConv2D and friends, belong to the backend).
 */
import * as tf from '../tf.js';
import { CONV_BIAS_RELU, CONV_BIAS_RELU_GRAD, ONEDNN, OnednnBackend } from './onednn.js';

type CallFn = (this: unknown, inputs: tf.Tensor | tf.Tensor[], kwargs: tf.serialization.ConfigDict) => tf.Tensor | tf.Tensor[];
type MergeFn = (this: unknown, inputs: tf.Tensor[]) => tf.Tensor;

interface VariableLike {
  read(): tf.Tensor;
}
/** The fields of tfjs-layers' Conv2D / DepthwiseConv2D that the fused path reads. */
interface ConvLayerInternals {
  rank?: number;
  kernel?: VariableLike | null;
  depthwiseKernel?: VariableLike | null;
  bias?: VariableLike | null;
  useBias: boolean;
  strides: number[];
  padding: string;
  dataFormat: string;
  dilationRate?: number | number[];
  activation?: { getClassName(): string } | null;
}

function layerClass(name: string): { prototype: Record<string, unknown> } | undefined {
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[name];
  return entry?.[0] as unknown as { prototype: Record<string, unknown> } | undefined;
}

/** How many withTrainingFusion scopes are running (the patches are installed while > 0). */
let depth = 0;
const isOnednn = (): boolean => depth > 0 && tf.getBackend() === ONEDNN;

function dilationOne(d: number | number[] | undefined): boolean {
  if (d === undefined) return true;
  return Array.isArray(d) ? d.every((v) => v === 1) : d === 1;
}

/**
 * The gradient of CONV_BIAS_RELU. The engine asks for an input's gradient only when that input
 * lies on the path to what is differentiated, one input at a time, in the order x, filter, bias.
 * When x is asked for, one native pass gives all three (the ReLU mask applied once) and the
 * weight gradients wait for their turn; when it is not (the stem, whose x is the data), the pass
 * skips dx: at 112² batch 16 the stem's backward takes 7.3 ms instead of 17.0.
 */
const convBiasReluGradient: tf.GradConfig = {
  kernelName: CONV_BIAS_RELU,
  inputsToSave: ['x', 'filter'],
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [x, filter, y] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
    let weights: { dw: tf.Tensor; db: tf.Tensor } | undefined;
    const pass = (needDx: boolean): tf.Tensor[] =>
      tf.engine().runKernel(CONV_BIAS_RELU_GRAD, { dy: dy as tf.Tensor, y, x, filter }, { ...attrs, needDx }) as tf.Tensor[];
    /** Keeps dw and db past the engine's per-input tidy until their turn. */
    const stash = (dw: tf.Tensor, db: tf.Tensor): { dw: tf.Tensor; db: tf.Tensor } =>
      (weights = claim({ dw: tf.keep(dw), db: tf.keep(db) }));
    /** dw and db, from the pass x's gradient made or from one of their own. */
    const weightGrads = (): { dw: tf.Tensor; db: tf.Tensor } => {
      if (weights) return weights;
      const [dw, db] = pass(false);
      return stash(dw!, db!);
    };
    return {
      x: () => {
        const [dx, dw, db] = pass(true);
        stash(dw!, db!);
        return dx!;
      },
      filter: () => release(weightGrads(), 'dw'),
      bias: () => release(weightGrads(), 'db'),
    };
  },
};

/**
 * Weight gradients made ahead of their turn, until the engine takes them. One nobody takes (a
 * gradient with respect to x only) is disposed at the next fused forward or when the scope ends.
 */
let unclaimed = new Set<tf.Tensor>();
function claim<T extends Record<string, tf.Tensor>>(grads: T): T {
  for (const t of Object.values(grads)) unclaimed.add(t);
  return grads;
}
/**
 * The kept tensor goes; a clone (same storage, no copy) is handed over, created inside the engine's
 * per-input scope, so it is disposed like any other gradient (a kept one would escape the engine's
 * cleanup, e.g. when it adds the gradients of a layer applied twice and drops the parts).
 */
function release(grads: { dw: tf.Tensor; db: tf.Tensor }, which: 'dw' | 'db'): tf.Tensor {
  const kept = grads[which];
  unclaimed.delete(kept);
  const handed = kept.clone();
  kept.dispose();
  return handed;
}
function disposeUnclaimed(): void {
  if (unclaimed.size === 0) return;
  const stale = unclaimed;
  unclaimed = new Set();
  for (const t of stale) t.dispose();
}

// our own kernel's entry in TF.js's gradient registry (nothing of TF.js's is replaced)
tf.registerGradient(convBiasReluGradient);

/** relu(conv(x, w) + b) as one op with a native fused gradient (NHWC, dilation 1). */
export function convBiasRelu(x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D, strides: [number, number],
  pad: 'same' | 'valid', depthwise: boolean): tf.Tensor4D {
  // no forward runs inside a backward pass (this op's gradient runs none): what the last one left
  // untaken is stale
  disposeUnclaimed();
  const attrs = { strides, pad, dataFormat: 'NHWC', dilations: [1, 1], activation: 'relu', depthwise };
  return tf.engine().runKernel(CONV_BIAS_RELU, { x, filter: w, bias: b }, attrs) as tf.Tensor4D;
}

function fusedConvCall(original: CallFn, depthwise: boolean): CallFn {
  return function (this: unknown, inputs, kwargs) {
    const l = this as ConvLayerInternals;
    const kernel = depthwise ? l.depthwiseKernel : l.kernel;
    const eligible = isOnednn() && (depthwise || l.rank === 2) && l.useBias && l.bias && kernel &&
      l.dataFormat === 'channelsLast' && dilationOne(l.dilationRate) && l.activation?.getClassName() === 'relu' &&
      (l.padding === 'same' || l.padding === 'valid');
    if (!eligible) return original.call(this, inputs, kwargs);
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor;
      if (x.rank !== 4 || x.dtype !== 'float32') return original.call(this, inputs, kwargs);
      const s = l.strides;
      return convBiasRelu(x as tf.Tensor4D, kernel!.read() as tf.Tensor4D, l.bias!.read() as tf.Tensor1D,
        [s[0]!, s[1] ?? s[0]!], l.padding as 'same' | 'valid', depthwise);
    });
  };
}

/**
 * Running sums. COVID-Net's module inputs are sums of all earlier module outputs of the stage
 * (add(o1, …, o(m−1), ul)), so a stage of n modules adds O(n²) maps forward and accumulates as many
 * gradients backward. An Add whose inputs contain an earlier Add's inputs (as a multiset) adds the
 * rest to that Add's result instead: add(o1, o2, ul) → add(add(o1, ul), o2), as the inference plan
 * does (native/src/plan.cc, chainSums). Only the rounding differs. Tensor ids are never reused, so
 * an entry can only match the pass that made it; disposed results are skipped.
 */
const recentSums: { ids: number[]; sum: tf.Tensor }[] = [];
const RECENT_SUMS = 64;

function runningSum(inputs: tf.Tensor[]): tf.Tensor {
  const ids = inputs.map((t) => t.id);
  let best: { sum: tf.Tensor; rest: tf.Tensor[] } | undefined;
  let bestSize = 0;
  for (const e of recentSums) {
    if (e.ids.length >= ids.length || e.ids.length <= bestSize || e.sum.isDisposed) continue;
    const rest = inputs.slice();
    const subset = e.ids.every((id) => {
      const k = rest.findIndex((t) => t.id === id);
      if (k < 0) return false;
      rest.splice(k, 1);
      return true;
    });
    if (subset) {
      best = { sum: e.sum, rest };
      bestSize = e.ids.length;
    }
  }
  const sum = !best ? tf.addN(inputs) : best.rest.length === 1 ? tf.add(best.sum, best.rest[0]!) : tf.addN([best.sum, ...best.rest]);
  recentSums.push({ ids, sum });
  if (recentSums.length > RECENT_SUMS) recentSums.shift();
  return sum;
}

function addNMerge(original: MergeFn): MergeFn {
  return function (this: unknown, inputs) {
    const first = inputs[0];
    if (!isOnednn() || !first || inputs.length < 2 || !inputs.every((t) => t.dtype === 'float32' && t.shape.join() === first.shape.join())) {
      return original.call(this, inputs);
    }
    return tf.tidy(() => runningSum(inputs));
  };
}

// ------------------------------------------------------------------------------- Adam

interface AdamInternals {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: { originalName: string; variable: tf.Variable }[];
  accumulatedSecondMoment: { originalName: string; variable: tf.Variable }[];
  incrementIterations(): void;
}
type ApplyFn = (this: unknown, grads: tf.NamedTensorMap | { name: string; tensor: tf.Tensor }[]) => void;

/**
 * TF.js's Adam update (same formula, same state variables, so getWeights/setWeights and saved
 * optimizer state are unchanged), done in place by one native pass per variable. A variable whose
 * storage is shared (e.g. by a clone someone keeps) is updated out of place with tensor ops; one
 * whose array was handed out (dataSync, data) gets a private copy first, so the caller's array
 * keeps the values it had.
 */
function nativeAdam(original: ApplyFn): ApplyFn {
  return function (this: unknown, variableGradients) {
    const backend = tf.backend();
    if (depth === 0 || !(backend instanceof OnednnBackend)) return original.call(this, variableGradients);
    const o = this as AdamInternals;
    const names = Array.isArray(variableGradients) ? variableGradients.map((v) => v.name) : Object.keys(variableGradients);
    const scalarOf = (v: tf.Variable): number => (backend.data.get(v.dataId).values as Float32Array)[0]!;
    const c1 = 1 - scalarOf(o.accBeta1), c2 = 1 - scalarOf(o.accBeta2);
    const hyper = Float64Array.from([o.learningRate, o.beta1, o.beta2, o.epsilon, c1, c2]);
    tf.tidy(() => {
      names.forEach((name, i) => {
        const value = tf.engine().registeredVariables[name]!;
        o.accumulatedFirstMoment[i] ??= { originalName: `${name}/m`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        o.accumulatedSecondMoment[i] ??= { originalName: `${name}/v`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        const gradient = Array.isArray(variableGradients) ? variableGradients[i]!.tensor : variableGradients[name];
        if (gradient == null) return;
        const m = o.accumulatedFirstMoment[i]!.variable, v = o.accumulatedSecondMoment[i]!.variable;
        if (gradient.dtype === 'float32' && gradient.size === value.size &&
          backend.canUpdateInPlace(value) && backend.canUpdateInPlace(m) && backend.canUpdateInPlace(v)) {
          backend.addon.adam(backend.inPlace(value)!, backend.values(gradient), backend.inPlace(m)!, backend.inPlace(v)!, hyper);
          return;
        }
        const newM = tf.add(tf.mul(m, o.beta1), tf.mul(gradient, 1 - o.beta1));
        const newV = tf.add(tf.mul(v, o.beta2), tf.mul(tf.square(gradient), 1 - o.beta2));
        m.assign(newM);
        v.assign(newV);
        const step = tf.div(tf.div(newM, c1), tf.add(tf.sqrt(tf.div(newV, c2)), o.epsilon));
        value.assign(tf.add(tf.mul(step, -o.learningRate), value));
      });
      o.accBeta1.assign(tf.mul(o.accBeta1, o.beta1));
      o.accBeta2.assign(tf.mul(o.accBeta2, o.beta2));
    });
    o.incrementIterations();
  };
}

interface Patch {
  target: Record<string, unknown>;
  key: string;
  original: unknown;
  patched: unknown;
}
let patches: Patch[] = [];

function install(): void {
  const list: Patch[] = [];
  const patch = (target: Record<string, unknown>, key: string, make: (original: never) => unknown): void => {
    const original = target[key];
    list.push({ target, key, original, patched: make(original as never) });
  };
  for (const [name, depthwise] of [['Conv2D', false], ['DepthwiseConv2D', true]] as const) {
    const cls = layerClass(name);
    if (cls) patch(cls.prototype, 'call', (original: CallFn) => fusedConvCall(original, depthwise));
  }
  const add = layerClass('Add');
  if (add) patch(add.prototype, 'mergeFunction', (original: MergeFn) => addNMerge(original));
  patch(tf.AdamOptimizer.prototype as unknown as Record<string, unknown>, 'applyGradients', (original: ApplyFn) => nativeAdam(original));
  for (const p of list) p.target[p.key] = p.patched;
  patches = list;
}

function uninstall(): void {
  // Restored where still ours; a wrapper someone put on top stays, and ours under it is inert
  // (every patched path checks `depth`).
  for (const p of patches.reverse()) if (p.target[p.key] === p.patched) p.target[p.key] = p.original;
  patches = [];
}

/**
 * Runs `fn` with the training-time fusion on (fused conv + bias + ReLU layers, AddN skip sums,
 * the in-place native Adam), and turns it off again when `fn` settles, also on error. Nesting-
 * and overlap-safe (the patches stay while any scope runs). Inert unless the active backend is
 * `onednn` (checked at each call, so `fn` may select the backend itself).
 */
export async function withTrainingFusion<T>(fn: () => T | Promise<T>): Promise<T> {
  if (depth++ === 0) install();
  try {
    return await fn();
  } finally {
    if (--depth === 0) {
      uninstall();
      disposeUnclaimed();
      recentSums.length = 0;
    }
  }
}

/** Whether a withTrainingFusion scope is running. */
export function trainingFusionActive(): boolean {
  return depth > 0;
}
