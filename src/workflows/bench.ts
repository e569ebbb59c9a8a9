/**
 * Speed benchmark of the single / siamese COVID-Net on the active backend, with the definitions of
 * the PyTorch mirror of the network (docs/performance.md): random inputs, medians over `steps`
 * after `warmup` steps, milliseconds per image (a siamese pair counts as 2 images), a training step
 * = forward + backward + Adam update (lr 1e-4).
 */
import * as tf from '../tf.js';
import { optionError } from '../errors.js';
import { covidNet, siameseCovidNet, disposeModel, probabilityDifferent, siameseParts } from '../model/covidnet.js';
import { createRng } from '../util/rng.js';
import { initBackend, resolveThreads, withTrainingFusion } from '../backend/index.js';
import { compilePlan, type CompiledPlan } from '../backend/plan.js';
import { openOnnxRuntime, type BenchShape, type OnnxAnchor } from './bench-anchor.js';

export type BenchModel = BenchShape['model'];

export interface BenchOptions extends BenchShape {
  threads?: number | undefined;
  backend?: string | undefined;
  /** Also time the same network in ONNX Runtime in this process (bench-anchor.ts). */
  anchor?: 'onnxruntime' | undefined;
  /** Called after each step (progress display). */
  onStep?: ((done: number, total: number) => void) | undefined;
}

/** Exactly the fields of `covidnet bench --json`. */
export interface BenchResult {
  backend: string;
  model: BenchModel;
  size: number;
  width: number;
  fc: number;
  batch: number;
  threads: number;
  params: number;
  /** The forward that predict, evaluate, explain and serve run: the compiled plan on onednn. */
  forward_ms_per_image: number;
  /** Which forward `forward_ms_per_image` timed: `plan`, or `tfjs` with the reason. */
  forward_path: string;
  /** TF.js's own forward (model.apply), as before the plan. */
  forward_tfjs_ms_per_image: number;
  train_ms_per_image: number;
  peak_rss_mb: number;
  /** Plan forward: milliseconds per image per kind of native op (measured steps), where the time goes. */
  forward_profile?: Record<string, number>;
  /**
   * With --anchor onnxruntime: ONNX Runtime's forward of the PyTorch mirror and covidnet's plan
   * forward timed in alternation (pairs, each engine first in turn), their medians, and the ratio
   * covidnet / ONNX Runtime of those medians.
   */
  onnxruntime_forward_ms_per_image?: number;
  forward_interleaved_ms_per_image?: number;
  forward_vs_onnxruntime?: number;
  /**
   * Batch 1 with a plan: its runs after a pause (the interleaved ones), and their mean ms on all
   * threads and on the calling thread alone, of which the plan takes the faster (0: not tried).
   */
  forward_cold?: { runs: number; threads_ms: number; alone_ms: number };
}

export const BENCH_DEFAULTS = { model: 'single', size: 224, width: 128, fc: 1024, batch: 8, steps: 5, warmup: 2 } as const;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
const round2 = (x: number): number => Math.round(x * 100) / 100;

function randomNormal(shape: number[], seed: number): tf.Tensor {
  const rng = createRng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.normal();
  return tf.tensor(v, shape);
}

export function validateBenchOptions(o: BenchOptions): void {
  if (o.model !== 'single' && o.model !== 'siamese') throw optionError('model', 'single | siamese', o.model);
  if (o.anchor !== undefined && o.anchor !== 'onnxruntime') throw optionError('anchor', 'onnxruntime', o.anchor);
  for (const [k, min] of [['batch', 1], ['steps', 1], ['warmup', 0]] as const) {
    const v = o[k];
    if (!Number.isInteger(v) || v < min) throw optionError(k, `an integer of at least ${min}`, v);
  }
}

export async function runBench(opts: BenchOptions): Promise<{ result: BenchResult; reason: string }> {
  validateBenchOptions(opts);
  const threads = resolveThreads(opts.threads);
  const choice = await initBackend({ backend: opts.backend, purpose: 'train', threads });
  const anchor = opts.anchor === 'onnxruntime' ? await openOnnxRuntime({ ...opts, threads }) : undefined;
  try {
    // the training-time fusion, as in covidnet's own training (the forward timings too, as before)
    const out = await withTrainingFusion(() => timeSteps(opts, choice.name, choice.reason, threads, anchor));
    if (anchor) out.reason += `; anchor ${anchor.framework}, ${threads} thread${threads === 1 ? '' : 's'}, forwards interleaved`;
    return out;
  } finally {
    await anchor?.close();
  }
}

/** Pairs timed in alternation with the anchor: at least this many, after 2 warm-up pairs. */
const INTERLEAVED_PAIRS = 10;
/**
 * Pause between two engines' forwards, so that neither runs while the other's threads still
 * spin-wait. Measured at 112 batch 16 on 2 cores: covidnet's forward right after ONNX Runtime's
 * took 2.45 ms/image with no pause and 2.28 with 20 ms, against 1.19 with 100 ms (1.10 with no
 * ONNX Runtime runs at all).
 */
const HANDOVER_MS = 100;
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const coldOf = (plan: CompiledPlan): BenchResult['forward_cold'] => {
  const c = plan.info.cold;
  return { runs: c.runs, threads_ms: round2(c.threadsMs), alone_ms: round2(c.aloneMs) };
};

async function timeSteps(
  opts: BenchOptions, backend: string, reason: string, threads: number, anchor: OnnxAnchor | undefined,
): Promise<{ result: BenchResult; reason: string }> {
  const cfg = { size: opts.size, width: opts.width, fc: opts.fc, seed: 1 };
  const model = opts.model === 'single' ? covidNet(cfg) : siameseCovidNet(cfg);
  const shape = [opts.batch, opts.size, opts.size, 1];
  const rng = createRng(7);
  const inputs = opts.model === 'single' ? [randomNormal(shape, 11)] : [randomNormal(shape, 11), randomNormal(shape, 13)];
  const target = opts.model === 'single'
    ? tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: opts.batch }, () => rng.int(3)), 'int32'), 3), 'float32')
    : tf.tensor2d(Array.from({ length: opts.batch }, () => rng.int(2)), [opts.batch, 1]);
  const optimizer = tf.train.adam(1e-4);
  const images = opts.batch * inputs.length;
  const fwd: number[] = [], train: number[] = [];
  const total = opts.warmup + opts.steps;
  const x = inputs.length === 1 ? inputs[0]! : inputs;
  // the inference path of RunModel: the compiled plan (siamese: of the encoder, then the head)
  const compiled = backend === 'onednn' ? compilePlan(opts.model === 'single' ? model : siameseParts(model).encoder) : undefined;
  const plan: CompiledPlan | undefined = compiled?.ok ? compiled.plan : undefined;
  const forwardPath = plan ? 'plan' : `tfjs (${compiled && !compiled.ok ? compiled.reason : `backend ${backend}`})`;
  const planFwd: number[] = [];
  let profileStart: Record<string, number> = {};
  /** One plan forward of the batch (siamese: both encoders, then the head): ms per image. */
  const planForward = (): number => {
    const t0 = performance.now();
    tf.tidy(() => {
      const y = opts.model === 'single'
        ? plan!.run(inputs[0]!)[0]!
        : probabilityDifferent(siameseParts(model).distance, plan!.run(inputs[0]!)[0]!, plan!.run(inputs[1]!)[0]!);
      y.dataSync();
    });
    return (performance.now() - t0) / images;
  };
  try {
    for (let step = 0; step < total; step++) {
      if (plan && step === opts.warmup) profileStart = plan.info.msByKind;
      let t0 = performance.now();
      tf.tidy(() => {
        const y = model.apply(x, { training: false }) as tf.Tensor;
        y.dataSync();
      });
      const f = performance.now() - t0;
      if (plan) {
        const ms = planForward();
        if (step >= opts.warmup) planFwd.push(ms);
      }
      t0 = performance.now();
      optimizer.minimize(() => {
        const y = model.apply(x, { training: true }) as tf.Tensor;
        return opts.model === 'single'
          ? tf.mean(tf.metrics.categoricalCrossentropy(target, y)) as tf.Scalar
          : tf.mean(tf.metrics.binaryCrossentropy(target, y)) as tf.Scalar;
      }, false);
      const s = performance.now() - t0;
      if (step >= opts.warmup) {
        fwd.push(f / images);
        train.push(s / images);
      }
      opts.onStep?.(step + 1, total);
    }
    const profileEnd = plan?.info.msByKind;
    // the anchor: forwards in alternation with the plan's (or TF.js's, without a plan), after the profile
    let interleaved: { ours: number; ort: number } | undefined;
    if (anchor) {
      const ours: number[] = [], ort: number[] = [];
      const own = (): number => {
        if (plan) return planForward();
        const t0 = performance.now();
        tf.tidy(() => (model.apply(x, { training: false }) as tf.Tensor).dataSync());
        return (performance.now() - t0) / images;
      };
      const pairs = Math.max(opts.steps, INTERLEAVED_PAIRS);
      for (let i = 0; i < 2 + pairs; i++) {
        // each engine goes first in turn
        let a: number, b: number;
        if (i % 2 === 0) {
          a = own();
          await pause(HANDOVER_MS);
          b = await anchor.forwardMs();
        } else {
          b = await anchor.forwardMs();
          await pause(HANDOVER_MS);
          a = own();
        }
        await pause(HANDOVER_MS);
        if (i >= 2) {
          ours.push(a);
          ort.push(b);
        }
      }
      interleaved = { ours: median(ours), ort: median(ort) };
    }
    const measured = opts.steps * images;
    const forwardProfile = profileEnd && Object.fromEntries(Object.entries(profileEnd).map(([k, v]) => [k, Math.round(((v - (profileStart[k] ?? 0)) / measured) * 1000) / 1000]));
    const result: BenchResult = {
      backend,
      model: opts.model,
      size: opts.size,
      width: opts.width,
      fc: opts.fc,
      batch: opts.batch,
      threads,
      params: model.countParams(),
      forward_ms_per_image: round2(median(plan ? planFwd : fwd)),
      forward_path: forwardPath,
      forward_tfjs_ms_per_image: round2(median(fwd)),
      train_ms_per_image: round2(median(train)),
      // maxRSS is in kilobytes
      peak_rss_mb: round2(process.resourceUsage().maxRSS / 1024),
      ...(forwardProfile ? { forward_profile: forwardProfile } : {}),
      ...(interleaved ? {
        onnxruntime_forward_ms_per_image: round2(interleaved.ort),
        forward_interleaved_ms_per_image: round2(interleaved.ours),
        forward_vs_onnxruntime: round2(interleaved.ours / interleaved.ort),
      } : {}),
      ...(plan && opts.batch === 1 ? { forward_cold: coldOf(plan) } : {}),
    };
    return { result, reason };
  } finally {
    plan?.dispose();
    optimizer.dispose();
    tf.dispose([...inputs, target]);
    if (opts.model === 'siamese') disposeModel(model);
    else model.dispose();
  }
}
