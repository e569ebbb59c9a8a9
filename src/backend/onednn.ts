/**
 * The `onednn` TF.js backend: the `cpu` backend (same Float32Array storage, all its kernels
 * re-registered under the new name) with the hot kernels replaced by the oneDNN addon.
 * Every native kernel falls back to the cpu kernel for cases it does not cover (other dtypes,
 * layouts, broadcasts), so the backend is always complete.
 */
import * as tf from '../tf.js';
import type { NativeAddon } from './native.js';

export const ONEDNN = 'onednn';
/** The training-time fused conv + bias + ReLU gradient (registered by this backend only). */
export const CONV_BIAS_RELU_GRAD = 'CovidnetConvBiasReluGrad';
/** relu(conv(x, filter) + bias), dense or depthwise (attrs.depthwise): FusedConv2D with a gradient of its own (fusion.ts). */
export const CONV_BIAS_RELU = 'CovidnetConvBiasRelu';

type DataId = object;
type Info = tf.TensorInfo;
type Attrs = tf.NamedAttrMap;
type KernelFn = (args: { inputs: tf.NamedTensorInfoMap; backend: OnednnBackend; attrs?: Attrs }) => Info | Info[];

/** Upper bound of memory kept for reuse (freed Float32Arrays waiting for a tensor of their size). */
const POOL_LIMIT_BYTES = 768 * 1024 * 1024;

/**
 * cpu backend + a pool of recycled output arrays. Writing into reused memory is much faster than
 * into fresh (page-faulting) Float32Arrays. Only arrays this backend allocated are recycled, and
 * only once no tensor refers to their memory (views included: the cpu Slice kernel returns
 * subarrays) and nobody was handed them (readSync/read mark them escaped).
 *
 * In-place updates (the native Adam) write only into memory nobody else can see: the buffers of
 * this backend's own kernel outputs that were never handed out (dataSync, data, cpu kernels'
 * readSync) nor shared with another tensor (the cpu Slice kernel returns views). Anything else is
 * copied once first (`inPlace`), so an array a caller holds never changes under it.
 */
export class OnednnBackend extends tf.MathBackendCPU {
  readonly addon: NativeAddon;
  private readonly pool = new Map<number, Float32Array[]>();
  private pooledBytes = 0;
  /** Buffers of arrays from alloc() that may be recycled → the array and how many data ids hold it or a view of it. */
  private readonly owned = new WeakMap<ArrayBufferLike, { array: Float32Array; holders: number }>();
  /** Buffers only this backend can see (see inPlace). */
  private readonly privateBuffers = new WeakSet<ArrayBufferLike>();
  private writingOutput = false;
  /** Max-pool workspaces by output data id (MaxPoolGrad reuses the forward's argmax). */
  readonly poolWorkspaces = new WeakMap<DataId, ArrayBuffer>();

  constructor(addon: NativeAddon) {
    super();
    this.addon = addon;
  }

  /** An uninitialised Float32Array of n elements (recycled when possible). */
  alloc(n: number): Float32Array {
    const list = this.pool.get(n);
    const a = list?.pop();
    if (a) {
      this.pooledBytes -= a.byteLength;
      this.owned.set(a.buffer, { array: a, holders: 0 });
      return a;
    }
    const fresh = new Float32Array(n);
    if (n >= 1024) this.owned.set(fresh.buffer, { array: fresh, holders: 0 });
    return fresh;
  }

  output(shape: number[], values: Float32Array): Info {
    this.writingOutput = true;
    try {
      return this.makeTensorInfo(shape, 'float32', values);
    } finally {
      this.writingOutput = false;
      this.privateBuffers.add(values.buffer);
    }
  }

  /**
   * The storage of a float32 tensor for an in-place update, or null when it cannot be updated in
   * place (shared by several tensors, not Float32Array storage, empty). Storage that someone else
   * may hold is first replaced by a private copy (copy-on-write; same values).
   */
  inPlace(t: Info): Float32Array | null {
    if (t.dtype !== 'float32' || !this.data.has(t.dataId)) return null;
    const d = this.data.get(t.dataId);
    const v = d.values;
    if (d.refCount !== 1 || !(v instanceof Float32Array) || v.length === 0) return null;
    if (this.privateBuffers.has(v.buffer)) return v;
    const copy = this.alloc(v.length);
    copy.set(v);
    this.owned.delete(v.buffer); // a view or a caller may still hold it: never recycled
    d.values = copy;
    this.track(copy);
    this.privateBuffers.add(copy.buffer);
    return copy;
  }

  /** Whether inPlace(t) would succeed (without copying anything). */
  canUpdateInPlace(t: Info): boolean {
    if (t.dtype !== 'float32' || !this.data.has(t.dataId)) return false;
    const d = this.data.get(t.dataId);
    return d.refCount === 1 && d.values instanceof Float32Array && d.values.length > 0;
  }

  /**
   * The float32 values of a tensor, as the addon needs them. The cpu backend casts int32/bool to
   * float32 without converting the storage (a float32 tensor may hold an Int32Array or Uint8Array),
   * so such storage is converted here (a copy; only read by the kernels).
   */
  values(t: Info): Float32Array {
    const v = this.data.get(t.dataId).values;
    return v instanceof Float32Array ? v : Float32Array.from(v as ArrayLike<number>);
  }

  override write(values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType): DataId {
    const id = super.write(values, shape, dtype);
    this.track(values);
    if (!this.writingOutput) this.shared(values);
    return id;
  }

  override move(dataId: DataId, values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType, refCount: number): void {
    super.move(dataId, values, shape, dtype, refCount);
    this.track(values);
    this.shared(values);
  }

  /** Someone else may see this memory now (a caller, or another tensor viewing the buffer). */
  private shared(values: tf.backend_util.BackendValues): void {
    if (ArrayBuffer.isView(values)) this.privateBuffers.delete(values.buffer);
  }

  private track(values: tf.backend_util.BackendValues): void {
    if (ArrayBuffer.isView(values)) {
      const o = this.owned.get(values.buffer);
      if (o) o.holders++;
    }
  }

  override readSync(dataId: DataId): tf.backend_util.BackendValues {
    const v = super.readSync(dataId);
    // Handed out (dataSync/arraySync/cpu kernels): never recycle it, never update it in place.
    if (ArrayBuffer.isView(v)) this.owned.delete(v.buffer);
    this.shared(v);
    return v;
  }

  override async read(dataId: DataId): Promise<tf.backend_util.BackendValues> {
    return this.readSync(dataId);
  }

  override disposeData(dataId: DataId, force = false): boolean {
    const values = this.data.has(dataId) ? this.data.get(dataId).values : undefined;
    const released = super.disposeData(dataId, force);
    if (ArrayBuffer.isView(values) && !this.data.has(dataId)) {
      const o = this.owned.get(values.buffer);
      if (o) {
        if (o.holders > 1) o.holders--;
        else {
          this.owned.delete(values.buffer);
          const a = o.array;
          if (this.pooledBytes + a.byteLength <= POOL_LIMIT_BYTES) {
            const list = this.pool.get(a.length);
            if (list) list.push(a);
            else this.pool.set(a.length, [a]);
            this.pooledBytes += a.byteLength;
          }
        }
      }
    }
    return released;
  }

  /** Frees the recycled arrays and the addon's cached primitives. */
  releaseCaches(): void {
    this.pool.clear();
    this.pooledBytes = 0;
    this.addon.clearCache();
  }

  override dispose(): void {
    this.releaseCaches();
    super.dispose();
  }
}

// ------------------------------------------------------------------------------------ helpers

const f32 = (...ts: (Info | undefined)[]): boolean => ts.every((t) => t === undefined || t.dtype === 'float32');
const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);
const sameShape = (a: number[], b: number[]): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

type ConvInfo = tf.backend_util.Conv2DInfo;

/** The addon's conv parameter block (see ConvShape in native/src/addon.cc). */
function convParams(c: ConvInfo, depthwise: boolean, relu: boolean): Int32Array {
  const mult = depthwise ? c.outChannels / c.inChannels : 0;
  return Int32Array.from([
    c.batchSize, c.inHeight, c.inWidth, c.inChannels, c.outHeight, c.outWidth, c.outChannels,
    c.filterHeight, c.filterWidth, c.strideHeight, c.strideWidth,
    c.padInfo.top, c.padInfo.left, c.padInfo.bottom, c.padInfo.right,
    c.dilationHeight, c.dilationWidth, mult, relu ? 1 : 0,
  ]);
}

function poolParams(c: ConvInfo): Int32Array {
  return Int32Array.from([
    c.batchSize, c.inHeight, c.inWidth, c.inChannels, c.outHeight, c.outWidth,
    c.filterHeight, c.filterWidth, c.strideHeight, c.strideWidth,
    c.padInfo.top, c.padInfo.left, c.padInfo.bottom, c.padInfo.right,
  ]);
}

const nhwc = (attrs: Attrs): boolean => attrs['dataFormat'] === undefined || attrs['dataFormat'] === 'NHWC';
/** The output size oneDNN computes (floor rounding) is the one TF.js computed. */
const sizeAgrees = (inSize: number, outSize: number, k: number, dilation: number, stride: number, padA: number, padB: number): boolean => {
  const eff = (k - 1) * dilation + 1, span = inSize + padA + padB;
  return span >= eff && outSize === Math.floor((span - eff) / stride) + 1;
};
/** Shapes the addon takes (it refuses the others): non-empty, pads ≥ 0, output size as oneDNN's. */
const convOk = (c: ConvInfo): boolean => {
  const p = c.padInfo;
  return p.top >= 0 && p.left >= 0 && p.bottom >= 0 && p.right >= 0 && size(c.inShape) > 0 && size(c.outShape) > 0 &&
    sizeAgrees(c.inHeight, c.outHeight, c.filterHeight, c.dilationHeight, c.strideHeight, p.top, p.bottom) &&
    sizeAgrees(c.inWidth, c.outWidth, c.filterWidth, c.dilationWidth, c.strideWidth, p.left, p.right);
};

type Pad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
type Rounding = 'floor' | 'round' | 'ceil' | undefined;
type Pair = [number, number];
type Shape4 = [number, number, number, number];

function conv2dInfo(xShape: number[], wShape: number[], attrs: Attrs, depthwise: boolean): ConvInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as Shape4, wShape as Shape4, attrs['strides'] as Pair | number,
    (attrs['dilations'] as Pair | number | undefined) ?? 1, attrs['pad'] as Pad,
    attrs['dimRoundingMode'] as Rounding, depthwise, 'channelsLast');
}

// ------------------------------------------------------------------------------------ kernels
// Each returns null when it does not cover the case; the caller then runs the cpu kernel.

type Native = (b: OnednnBackend, inputs: tf.NamedTensorInfoMap, attrs: Attrs) => Info | Info[] | null;

function convForward(depthwise: boolean, fused: boolean): Native {
  return (b, inputs, attrs) => {
    const x = inputs['x']!, w = inputs['filter']!;
    const bias = fused ? inputs['bias'] : undefined;
    const act = fused ? ((attrs['activation'] as string | undefined) ?? 'linear') : 'linear';
    if (!f32(x, w, bias) || !nhwc(attrs) || x.shape.length !== 4 || (act !== 'linear' && act !== 'relu')) return null;
    const c = conv2dInfo(x.shape, w.shape, attrs, depthwise);
    if (!convOk(c) || (bias && size(bias.shape) !== c.outChannels)) return null;
    const y = b.alloc(size(c.outShape));
    b.addon.convForward(b.values(x), b.values(w), bias ? b.values(bias) : null, y, convParams(c, depthwise, act === 'relu'));
    return b.output(c.outShape, y);
  };
}

function convBackpropInput(depthwise: boolean): Native {
  return (b, inputs, attrs) => {
    const dy = inputs['dy']!, w = inputs['filter']!;
    if (!f32(dy, w) || !nhwc(attrs)) return null;
    const c = conv2dInfo(attrs['inputShape'] as number[], w.shape, attrs, depthwise);
    if (!convOk(c)) return null;
    const dx = b.alloc(size(c.inShape));
    b.addon.convBackwardData(b.values(dy), b.values(w), dx, convParams(c, depthwise, false));
    return b.output(c.inShape.slice(), dx);
  };
}

function convBackpropFilter(depthwise: boolean): Native {
  return (b, inputs, attrs) => {
    const x = inputs['x']!, dy = inputs['dy']!;
    if (!f32(x, dy) || !nhwc(attrs)) return null;
    const filterShape = attrs['filterShape'] as number[];
    const c = conv2dInfo(x.shape, filterShape, attrs, depthwise);
    if (!convOk(c)) return null;
    const dw = b.alloc(size(filterShape));
    b.addon.convBackwardWeights(b.values(x), b.values(dy), dw, null, convParams(c, depthwise, false));
    return b.output(filterShape.slice(), dw);
  };
}

/** Gradient of relu(conv(x, w) + bias) from dy and y: [dx, dw, db], or [dw, db] when attrs.needDx is false. */
const convBiasReluGrad: Native = (b, inputs, attrs) => {
  const dy = inputs['dy']!, y = inputs['y']!, x = inputs['x']!, w = inputs['filter']!;
  const depthwise = attrs['depthwise'] === true;
  const c = conv2dInfo(x.shape, w.shape, attrs, depthwise);
  const needDx = attrs['needDx'] !== false;
  const dx = needDx ? b.alloc(size(x.shape)) : null;
  const dw = b.alloc(size(w.shape));
  const db = b.alloc(c.outChannels);
  b.addon.convBiasReluBackward(b.values(dy), b.values(y), b.values(x), b.values(w), dx, dw, db,
    convParams(c, depthwise, true));
  const weights = [b.output(w.shape.slice(), dw), b.output([c.outChannels], db)];
  return dx ? [b.output(x.shape.slice(), dx), ...weights] : weights;
};

const maxPool: Native = (b, inputs, attrs) => {
  const x = inputs['x']!;
  if (!f32(x) || x.shape.length !== 4) return null;
  const c = tf.backend_util.computePool2DInfo(x.shape as Shape4, attrs['filterSize'] as Pair | number,
    attrs['strides'] as Pair | number, 1, attrs['pad'] as Pad, attrs['dimRoundingMode'] as Rounding);
  if (!convOk(c)) return null;
  const y = b.alloc(size(c.outShape));
  // Keep the argmax workspace only when a gradient may be asked for (tape recording).
  const training = tf.engine().state.gradientDepth > 0;
  const ws = b.addon.maxPoolForward(b.values(x), y, poolParams(c), training);
  const out = b.output(c.outShape, y);
  if (ws) b.poolWorkspaces.set(out.dataId, ws);
  return out;
};

const maxPoolGrad: Native = (b, inputs, attrs) => {
  const dy = inputs['dy']!, x = inputs['input']!, y = inputs['output']!;
  if (!f32(dy, x) || x.shape.length !== 4) return null;
  const c = tf.backend_util.computePool2DInfo(x.shape as Shape4, attrs['filterSize'] as Pair | number,
    attrs['strides'] as Pair | number, 1, attrs['pad'] as Pad, attrs['dimRoundingMode'] as Rounding);
  if (!convOk(c)) return null;
  const p = poolParams(c);
  let ws = b.poolWorkspaces.get(y.dataId);
  if (!ws) {
    // Forward ran without a tape: recompute it once to get the workspace.
    const tmp = new Float32Array(size(c.outShape));
    ws = b.addon.maxPoolForward(b.values(x), tmp, p, true)!;
  }
  const dx = b.alloc(size(x.shape));
  b.addon.maxPoolBackward(b.values(dy), ws, dx, p);
  return b.output(x.shape.slice(), dx);
};

function matMul(fused: boolean): Native {
  return (b, inputs, attrs) => {
    const a = inputs['a']!, w = inputs['b']!;
    const bias = fused ? inputs['bias'] : undefined;
    const act = fused ? ((attrs['activation'] as string | undefined) ?? 'linear') : 'linear';
    if (!f32(a, w, bias) || (act !== 'linear' && act !== 'relu') || a.shape.length !== w.shape.length || a.shape.length < 2) return null;
    const r = a.shape.length;
    const tA = attrs['transposeA'] === true, tB = attrs['transposeB'] === true;
    const M = tA ? a.shape[r - 1]! : a.shape[r - 2]!, K = tA ? a.shape[r - 2]! : a.shape[r - 1]!;
    const K2 = tB ? w.shape[r - 1]! : w.shape[r - 2]!, N = tB ? w.shape[r - 2]! : w.shape[r - 1]!;
    if (K !== K2 || M < 1 || K < 1 || N < 1) return null;
    const batchA = a.shape.slice(0, r - 2), batchB = w.shape.slice(0, r - 2);
    const bA = size(batchA), bB = size(batchB);
    if (bA < 1 || bB < 1 || !(sameShape(batchA, batchB) || bA === 1 || bB === 1)) return null;
    if (bias && size(bias.shape) !== N) return null;
    const batchShape = bA >= bB ? batchA : batchB;
    const out = b.alloc(Math.max(bA, bB) * M * N);
    b.addon.matmul(b.values(a), b.values(w), out, bias ? b.values(bias) : null,
      Int32Array.from([bA, bB, M, K, N, tA ? 1 : 0, tB ? 1 : 0, act === 'relu' ? 1 : 0]));
    return b.output([...batchShape, M, N], out);
  };
}

/** Broadcast mode for the addon: 0 same, 1 b scalar, 2 a scalar, 3 b over last axis, 4 a over last axis. */
function broadcastMode(a: number[], b: number[], out: number[]): number | null {
  const lastOnly = (s: number[], full: number[]): boolean =>
    s.length >= 1 && s[s.length - 1] === full[full.length - 1] && size(s) === full[full.length - 1];
  if (sameShape(a, b)) return 0;
  if (sameShape(a, out) && size(b) === 1) return 1;
  if (sameShape(b, out) && size(a) === 1) return 2;
  if (sameShape(a, out) && lastOnly(b, out)) return 3;
  if (sameShape(b, out) && lastOnly(a, out)) return 4;
  return null;
}

function binary(op: number): Native {
  return (b, inputs) => {
    const x = inputs['a']!, y = inputs['b']!;
    if (!f32(x, y)) return null;
    const outShape = tf.backend_util.assertAndGetBroadcastShape(x.shape, y.shape);
    const mode = broadcastMode(x.shape, y.shape, outShape);
    if (mode === null || size(outShape) < 1) return null;
    const out = b.alloc(size(outShape));
    b.addon.binary(op, b.values(x), b.values(y), out, mode, outShape[outShape.length - 1] ?? 1);
    return b.output(outShape, out);
  };
}

function unary(op: number, alphaAttr?: string): Native {
  return (b, inputs, attrs) => {
    const x = inputs['x']!;
    if (!f32(x) || size(x.shape) < 1) return null;
    const out = b.alloc(size(x.shape));
    b.addon.unary(op, b.values(x), out, alphaAttr ? ((attrs[alphaAttr] as number | undefined) ?? 0) : 0);
    return b.output(x.shape.slice(), out);
  };
}

const addN: Native = (b, inputs) => {
  const list = Object.values(inputs).filter((t): t is Info => t !== undefined);
  const first = list[0];
  if (!first || !f32(...list) || !list.every((t) => sameShape(t.shape, first.shape)) || size(first.shape) < 1) return null;
  const out = b.alloc(size(first.shape));
  b.addon.addN(list.map((t) => b.values(t)), out);
  return b.output(first.shape.slice(), out);
};

const sum: Native = (b, inputs, attrs) => {
  const x = inputs['x']!;
  if (!f32(x) || size(x.shape) < 1) return null;
  const r = x.shape.length;
  const axes = tf.util.parseAxisParam(attrs['axis'] as number | number[], x.shape).sort((p, q) => p - q);
  if (axes.length === 0) return null;
  const prefix = axes.every((v, i) => v === i);
  const suffix = axes.every((v, i) => v === r - axes.length + i);
  if (!prefix && !suffix) return null;
  const kept = x.shape.filter((_, i) => !axes.includes(i));
  const outShape = attrs['keepDims'] === true ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : kept;
  const cols = prefix ? size(kept) : size(axes.map((i) => x.shape[i]!));
  const rows = size(x.shape) / cols;
  const out = b.alloc(size(kept));
  if (prefix) b.addon.sumOuter(b.values(x), out, rows, cols);
  else b.addon.sumInner(b.values(x), out, rows, cols);
  return b.output(outShape, out);
};

/**
 * UnsortedSegmentSum, the gradient of gather (the siamese recipes gather embeddings into pairs):
 * one scatter-add pass in TypeScript. The cpu kernel builds a mask per segment (numSegments passes
 * over x): 133 ms of a 311 ms contrastive-recipe step. Rows are summed in doubles in index order
 * and rounded once, as cpu's masked sum does, so the results are bit-identical.
 */
const unsortedSegmentSum: Native = (b, inputs, attrs) => {
  const x = inputs['x']!;
  const ids = inputs['segmentIds']!;
  const n = attrs['numSegments'] as number;
  if (!f32(x) || x.shape.length < 1 || ids.shape.length !== 1 || ids.shape[0] !== x.shape[0] || !Number.isInteger(n) || n < 1) return null;
  const inner = size(x.shape.slice(1));
  const xv = b.values(x);
  const iv = b.values(ids);
  const acc = new Float64Array(n * inner);
  for (let i = 0; i < iv.length; i++) {
    const s = iv[i]!;
    if (!(s >= 0 && s < n)) continue; // ids outside [0, n) contribute nowhere, as in cpu
    const o = s * inner;
    const p = i * inner;
    for (let k = 0; k < inner; k++) acc[o + k]! += xv[p + k]!;
  }
  const out = b.alloc(n * inner);
  out.set(acc);
  return b.output([n, ...x.shape.slice(1)], out);
};

const NATIVE: Record<string, Native> = {
  Conv2D: convForward(false, false),
  FusedConv2D: convForward(false, true),
  DepthwiseConv2dNative: convForward(true, false),
  FusedDepthwiseConv2D: convForward(true, true),
  Conv2DBackpropInput: convBackpropInput(false),
  Conv2DBackpropFilter: convBackpropFilter(false),
  DepthwiseConv2dNativeBackpropInput: convBackpropInput(true),
  DepthwiseConv2dNativeBackpropFilter: convBackpropFilter(true),
  MaxPool: maxPool,
  MaxPoolGrad: maxPoolGrad,
  BatchMatMul: matMul(false),
  _FusedMatMul: matMul(true),
  Add: binary(0),
  Sub: binary(1),
  Multiply: binary(2),
  RealDiv: binary(3),
  Relu: unary(0),
  Step: unary(1, 'alpha'),
  Square: unary(2),
  Neg: unary(3),
  AddN: addN,
  Sum: sum,
  UnsortedSegmentSum: unsortedSegmentSum,
};

/** Names of the kernels the addon implements (the rest are the cpu backend's). */
export const NATIVE_KERNELS: readonly string[] = Object.keys(NATIVE);

let registered = false;

/**
 * Registers the `onednn` backend (idempotent). Priority below `cpu`'s so importing never
 * changes anyone's default; initBackend selects it explicitly.
 */
export function registerOnednnBackend(addon: NativeAddon): void {
  if (registered) return;
  tf.registerBackend(ONEDNN, () => new OnednnBackend(addon), 0);
  for (const k of tf.getKernelsForBackend('cpu')) {
    const native = NATIVE[k.kernelName];
    const cpuFn = k.kernelFunc as unknown as KernelFn;
    const kernelFunc: KernelFn = native
      ? (args) => native(args.backend, args.inputs, args.attrs ?? {}) ?? cpuFn(args)
      : cpuFn;
    tf.registerKernel({ ...k, backendName: ONEDNN, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
  }
  // the forward of the training-time fused conv: the native FusedConv2D / FusedDepthwiseConv2D,
  // or cpu's where the addon declines the shape
  const cpuFused = (name: string): KernelFn => tf.getKernel(name, 'cpu')!.kernelFunc as unknown as KernelFn;
  const fused = { dense: [convForward(false, true), cpuFused('FusedConv2D')], depthwise: [convForward(true, true), cpuFused('FusedDepthwiseConv2D')] } as const;
  tf.registerKernel({
    kernelName: CONV_BIAS_RELU,
    backendName: ONEDNN,
    kernelFunc: ((args: Parameters<KernelFn>[0]) => {
      const [native, cpu] = args.attrs?.['depthwise'] === true ? fused.depthwise : fused.dense;
      return native(args.backend, args.inputs, args.attrs ?? {}) ?? cpu(args);
    }) as unknown as tf.KernelFunc,
  });
  tf.registerKernel({
    kernelName: CONV_BIAS_RELU_GRAD,
    backendName: ONEDNN,
    kernelFunc: ((args: Parameters<KernelFn>[0]) => convBiasReluGrad(args.backend, args.inputs, args.attrs ?? {})!) as unknown as tf.KernelFunc,
  });
  registered = true;
}
