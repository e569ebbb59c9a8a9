/**
 * The compiled inference plan (native/src/plan.cc): a one-input TF.js LayersModel turned once into
 * a list of native primitives (convolutions with fused bias + ReLU, max pooling, skip sums, dense
 * layers, softmax, L2 normalisation) with planned buffers, run by one native call per forward
 * instead of one TF.js kernel (and its JavaScript bookkeeping) per layer.
 *
 * The TF.js model stays the source of truth: the plan holds no weights. Every run hands the native
 * side the layers' current variables' storage, so weights changed after compiling (setWeights,
 * training, the native in-place Adam) are what the next run uses: a stale answer cannot happen.
 * A model with a layer the plan does not cover compiles to `{ ok: false, reason }` and the caller
 * keeps the TF.js path (`PlanRunner` does so by itself).
 *
 *   const r = compilePlan(model);            // once per model (PlanRunner caches it)
 *   if (r.ok) outs = r.plan.run(x);          // model.predict(x) as a list, same values (1e-5)
 */
import * as tf from '../tf.js';
import { CovidNetError } from '../errors.js';
import { loadAddon, type NativeAddon, type NativePlan } from './native.js';
import { ONEDNN, OnednnBackend } from './onednn.js';

// op codes and record layout of plan.cc
const OP = { conv: 1, pool: 2, add: 3, dense: 4, softmax: 5, l2norm: 6, act: 7 } as const;
const ACT = { linear: 0, relu: 1, sigmoid: 2 } as const;
const RECORD = 32;
const MAX_INPUTS = 16;
const PARAMS_AT = 3 + MAX_INPUTS;

interface VariableLike {
  read(): tf.Tensor;
}

/** The fields of tfjs-layers' layers that the compiler reads (their configs are the saved ones). */
interface LayerInternals {
  kernel?: VariableLike | null;
  depthwiseKernel?: VariableLike | null;
  bias?: VariableLike | null;
  useBias?: boolean;
  kernelSize?: number[];
  strides?: number[];
  padding?: string;
  dataFormat?: string;
  dilationRate?: number | number[];
  depthMultiplier?: number;
  poolSize?: number[];
  activation?: { getClassName(): string } | null;
  units?: number;
  filters?: number;
}

/** Why a model was not compiled (recorded by the runner, shown by `planStatus`). */
export type PlanCompile = { ok: true; plan: CompiledPlan } | { ok: false; reason: string };

/** Per-image shape of a value: [h, w, c] (dense values are [1, 1, units]). */
type ValShape = [number, number, number];

class Unsupported extends Error {}

function activationCode(l: LayerInternals, name: string): number | 'softmax' {
  const a = l.activation?.getClassName() ?? 'linear';
  if (a === 'relu') return ACT.relu;
  if (a === 'linear') return ACT.linear;
  if (a === 'sigmoid') return ACT.sigmoid;
  if (a === 'softmax') return 'softmax';
  throw new Unsupported(`layer ${name}: activation ${a}`);
}

/** TF.js 'same' / 'valid' padding of one spatial axis: [before, after]. */
function pads(size: number, k: number, s: number, padding: string): [number, number] {
  if (padding === 'valid') return [0, 0];
  const out = Math.ceil(size / s);
  const total = Math.max(0, (out - 1) * s + k - size);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

function outSize(size: number, k: number, s: number, padding: string): number {
  return padding === 'same' ? Math.ceil(size / s) : Math.ceil((size - k + 1) / s);
}

/** The program of a model: ops, value shapes, output values and the weight variables in order. */
interface Program {
  program: Int32Array;
  values: Int32Array;
  outputs: Int32Array;
  weights: VariableLike[];
  inputShape: ValShape;
  /** Each output's shape without the batch axis (its symbolic tensor's). */
  outputShapes: number[][];
}

/** Walks the model from its outputs to its input; throws Unsupported for what plan.cc lacks. */
function buildProgram(model: tf.LayersModel): Program {
  if (model.inputs.length !== 1) throw new Unsupported(`${model.inputs.length} inputs (the plan runs one-input models; siamese: its encoder)`);
  const input = model.inputs[0]!;
  const [, h, w, c] = input.shape;
  if (input.shape.length !== 4 || !h || !w || !c) throw new Unsupported(`input shape ${JSON.stringify(input.shape)} (expected [null, h, w, c])`);
  if (input.dtype !== 'float32') throw new Unsupported(`input dtype ${input.dtype}`);
  const shapes: ValShape[] = [[h, w, c]];
  const ops: number[][] = [];
  const weights: VariableLike[] = [];
  const weightIndex = new Map<VariableLike, number>();
  const valueOf = new Map<number, number>([[input.id, 0]]);
  const visiting = new Set<number>();

  const weight = (v: VariableLike | null | undefined, what: string): number => {
    if (!v) throw new Unsupported(`${what} missing`);
    let i = weightIndex.get(v);
    if (i === undefined) {
      i = weights.length;
      weights.push(v);
      weightIndex.set(v, i);
    }
    return i;
  };
  const newValue = (s: ValShape): number => {
    shapes.push(s);
    return shapes.length - 1;
  };
  const emit = (op: number, out: number, ins: number[], params: number[]): void => {
    const r = new Array<number>(RECORD).fill(0);
    r[0] = op;
    r[1] = out;
    r[2] = ins.length;
    ins.forEach((v, k) => (r[3 + k] = v));
    params.forEach((p, k) => (r[PARAMS_AT + k] = p));
    ops.push(r);
  };

  const visit = (t: tf.SymbolicTensor): number => {
    const known = valueOf.get(t.id);
    if (known !== undefined) return known;
    if (visiting.has(t.id)) throw new Unsupported('a cycle in the graph');
    visiting.add(t.id);
    const layer = t.sourceLayer;
    const cls = layer.getClassName();
    const name = layer.name;
    if (!t.inputs || t.inputs.length === 0) throw new Unsupported(`layer ${name} (${cls}) has no inputs (a second model input?)`);
    if (t.dtype !== 'float32') throw new Unsupported(`layer ${name}: dtype ${t.dtype}`);
    const ins = t.inputs.map((x) => visit(x));
    const l = layer as unknown as LayerInternals;
    const inShape = shapes[ins[0]!]!;
    let out: number;
    switch (cls) {
      case 'Conv2D':
      case 'DepthwiseConv2D': {
        const depthwise = cls === 'DepthwiseConv2D';
        const [kh = 1, kw = kh] = l.kernelSize ?? [];
        const [sh = 1, sw = sh] = l.strides ?? [];
        const dil = l.dilationRate;
        if (l.dataFormat !== 'channelsLast') throw new Unsupported(`layer ${name}: dataFormat ${l.dataFormat}`);
        if (dil !== undefined && !(Array.isArray(dil) ? dil.every((d) => d === 1) : dil === 1)) throw new Unsupported(`layer ${name}: dilation ${JSON.stringify(dil)}`);
        if (l.padding !== 'same' && l.padding !== 'valid') throw new Unsupported(`layer ${name}: padding ${l.padding}`);
        const act = activationCode(l, name);
        if (act !== ACT.relu && act !== ACT.linear) throw new Unsupported(`layer ${name}: activation ${String(act)} after a convolution`);
        const [ih, iw, ic] = inShape;
        const mult = depthwise ? l.depthMultiplier ?? 1 : 0;
        const oc = depthwise ? ic * mult : l.filters ?? (t.shape[3] as number);
        const [pt, pb] = pads(ih, kh, sh, l.padding);
        const [pl, pr] = pads(iw, kw, sw, l.padding);
        out = newValue([outSize(ih, kh, sh, l.padding), outSize(iw, kw, sw, l.padding), oc]);
        const k = weight(depthwise ? l.depthwiseKernel : l.kernel, `layer ${name}: kernel`);
        const b = l.useBias ? weight(l.bias, `layer ${name}: bias`) : -1;
        emit(OP.conv, out, ins, [kh, kw, sh, sw, pt, pl, pb, pr, mult, act === ACT.relu ? 1 : 0, k, b]);
        break;
      }
      case 'MaxPooling2D': {
        const [kh = 2, kw = kh] = l.poolSize ?? [];
        const [sh = kh, sw = sh] = l.strides ?? [];
        if (l.dataFormat !== 'channelsLast') throw new Unsupported(`layer ${name}: dataFormat ${l.dataFormat}`);
        if (l.padding !== 'same' && l.padding !== 'valid') throw new Unsupported(`layer ${name}: padding ${l.padding}`);
        const [ih, iw, ic] = inShape;
        const [pt, pb] = pads(ih, kh, sh, l.padding);
        const [pl, pr] = pads(iw, kw, sw, l.padding);
        out = newValue([outSize(ih, kh, sh, l.padding), outSize(iw, kw, sw, l.padding), ic]);
        emit(OP.pool, out, ins, [kh, kw, sh, sw, pt, pl, pb, pr]);
        break;
      }
      case 'Add': {
        if (ins.length > MAX_INPUTS) throw new Unsupported(`layer ${name}: ${ins.length} inputs (at most ${MAX_INPUTS})`);
        if (!ins.every((v) => shapes[v]!.join() === inShape.join())) throw new Unsupported(`layer ${name}: inputs of different shapes (broadcast)`);
        if (ins.length === 1) {
          out = ins[0]!;
          break;
        }
        out = newValue([...inShape]);
        emit(OP.add, out, ins, []);
        break;
      }
      // the same memory: flatten of NHWC is its row-major order; dropout is the identity at inference
      case 'Flatten':
      case 'Dropout':
        out = ins[0]!;
        break;
      case 'Dense': {
        if (t.inputs[0]!.shape.length !== 2) throw new Unsupported(`layer ${name}: a dense layer on a rank-${t.inputs[0]!.shape.length} input`);
        const act = activationCode(l, name);
        const units = l.units ?? (t.shape[1] as number);
        const k = weight(l.kernel, `layer ${name}: kernel`);
        const b = l.useBias ? weight(l.bias, `layer ${name}: bias`) : -1;
        const z = newValue([1, 1, units]);
        emit(OP.dense, z, ins, [act === 'softmax' ? ACT.linear : act, k, b]);
        out = z;
        if (act === 'softmax') {
          out = newValue([1, 1, units]);
          emit(OP.softmax, out, [z], []);
        }
        break;
      }
      case 'Activation': {
        const act = activationCode(l, name);
        if (act === 'softmax' && t.shape.length !== 2) throw new Unsupported(`layer ${name}: softmax on a rank-${t.shape.length} tensor`);
        out = newValue([...inShape]);
        if (act === 'softmax') emit(OP.softmax, out, ins, []);
        else emit(OP.act, out, ins, [act]);
        break;
      }
      case 'L2Normalize': {
        if (t.shape.length !== 2) throw new Unsupported(`layer ${name}: L2Normalize on a rank-${t.shape.length} tensor`);
        out = newValue([...inShape]);
        emit(OP.l2norm, out, ins, []);
        break;
      }
      default:
        throw new Unsupported(`layer ${name} (${cls}) is not covered by the plan`);
    }
    visiting.delete(t.id);
    valueOf.set(t.id, out);
    return out;
  };

  const outputs = model.outputs.map((o) => visit(o));
  if (ops.length === 0) throw new Unsupported('no operations');
  return {
    program: Int32Array.from(ops.flat()),
    values: Int32Array.from(shapes.flat()),
    outputs: Int32Array.from(outputs),
    weights,
    inputShape: shapes[0]!,
    outputShapes: model.outputs.map((o) => o.shape.slice(1) as number[]),
  };
}

/** A model compiled for the native plan. `run` is `model.predict` as a list of tensors. */
export class CompiledPlan {
  private handle: NativePlan | undefined;

  constructor(
    private readonly addon: NativeAddon,
    private readonly prog: Program,
    /** For messages. */
    readonly modelName: string,
  ) {
    this.handle = addon.planCreate(prog.program, prog.values, prog.outputs, prog.weights.length);
  }

  get disposed(): boolean {
    return this.handle === undefined;
  }

  /** Ops, fused PEPX modules, steps of the trunk's tail (run on groups of images), values, buffer slots, planned floats per image, the time of the runs so far per kind of op, and the cold batch-1 runs' two ways (native planInfo). */
  get info(): {
    ops: number; fusedPepx: number; tailSteps: number; values: number; slots: number; floatsPerImage: number; runs: number; msByKind: Record<string, number>;
    cold: { runs: number; threadsMs: number; aloneMs: number };
    steps: { kind: string; shape: string; ms: number }[];
  } {
    const h = this.live();
    const i = this.addon.planInfo(h);
    return {
      ops: i.ops ?? 0, fusedPepx: i.fusedPepx ?? 0, tailSteps: i.tailSteps ?? 0, values: i.values ?? 0, slots: i.slots ?? 0, floatsPerImage: i.floatsPerImage ?? 0,
      runs: i.runs ?? 0, msByKind: i.msByKind ?? {}, cold: i.cold ?? { runs: 0, threadsMs: 0, aloneMs: 0 }, steps: i.steps ?? [],
    };
  }

  /**
   * The model's outputs for x [n, h, w, c] (float32, on the onednn backend): new tensors the
   * caller disposes. The weights are read from the model's variables now.
   */
  run(x: tf.Tensor): tf.Tensor[] {
    const h = this.live();
    const backend = tf.backend();
    if (!(backend instanceof OnednnBackend)) throw new CovidNetError('E_PLAN_INPUT', `the plan of ${this.modelName} runs on the onednn backend, not ${tf.getBackend()}`);
    if (!(x instanceof tf.Tensor)) throw new CovidNetError('E_PLAN_INPUT', `plan input of ${this.modelName}: expected a tensor, got ${typeof x}`);
    const [ih, iw, ic] = this.prog.inputShape;
    if (x.rank !== 4 || x.shape[1] !== ih || x.shape[2] !== iw || x.shape[3] !== ic || x.shape[0]! < 1) {
      throw new CovidNetError('E_PLAN_INPUT', `plan input of ${this.modelName}: expected shape [n ≥ 1, ${ih}, ${iw}, ${ic}], got ${JSON.stringify(x.shape)}`);
    }
    if (x.dtype !== 'float32') throw new CovidNetError('E_PLAN_INPUT', `plan input of ${this.modelName}: expected float32, got ${x.dtype}`);
    const n = x.shape[0]!;
    const weights = this.prog.weights.map((v) => backend.values(v.read()));
    const outs = this.addon.planRun(h, backend.values(x), n, weights);
    return outs.map((a, k) => tf.tensor(a, [n, ...this.prog.outputShapes[k]!], 'float32'));
  }

  /** Frees the native plan (idempotent). */
  dispose(): void {
    if (!this.handle) return;
    this.addon.planDispose(this.handle);
    this.handle = undefined;
  }

  private live(): NativePlan {
    if (!this.handle) throw new CovidNetError('E_PLAN_DISPOSED', `the plan of ${this.modelName} was disposed`);
    return this.handle;
  }
}

/** Compiles `model` for the native plan, or says why it cannot (a layer not covered, no addon). */
export function compilePlan(model: tf.LayersModel): PlanCompile {
  const load = loadAddon();
  if (!load.ok) return { ok: false, reason: load.error };
  if (typeof load.addon.planCreate !== 'function') return { ok: false, reason: 'the addon predates the plan; rebuild it (make native)' };
  let prog: Program;
  try {
    prog = buildProgram(model);
  } catch (e) {
    if (e instanceof Unsupported) return { ok: false, reason: e.message };
    throw e;
  }
  return { ok: true, plan: new CompiledPlan(load.addon, prog, model.name) };
}

/**
 * Runs models forward for inference, through their compiled plan on the onednn backend and
 * through `model.predict` otherwise (another backend, `COVIDNET_PLAN=0`, or a layer the plan does
 * not cover: the reason is kept, `status(model)`). Plans are compiled on first use and kept per model.
 */
export class PlanRunner {
  private readonly plans = new Map<tf.LayersModel, PlanCompile>();

  /** `model.predict(x)` as a list (the caller disposes the tensors). */
  run(model: tf.LayersModel, x: tf.Tensor4D): tf.Tensor[] {
    if (tf.getBackend() === ONEDNN && process.env['COVIDNET_PLAN'] !== '0') {
      let c = this.plans.get(model);
      if (!c) {
        c = compilePlan(model);
        this.plans.set(model, c);
      }
      if (c.ok) return c.plan.run(x);
    }
    const y = model.predict(x);
    return Array.isArray(y) ? y : [y];
  }

  /** 'plan', or why the TF.js path runs this model (undefined: not run yet). */
  status(model: tf.LayersModel): string | undefined {
    const c = this.plans.get(model);
    return c === undefined ? undefined : c.ok ? 'plan' : c.reason;
  }

  dispose(): void {
    for (const c of this.plans.values()) if (c.ok) c.plan.dispose();
    this.plans.clear();
  }
}
