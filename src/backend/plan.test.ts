/**
 * The compiled native plan against TF.js's own path on the same backend: single and siamese
 * (encoder) networks at a small size, batch 1 and > 1, every output of the trust feature model
 * (stem, embedding, probabilities) within 1e-5 relative; fallback for a layer the plan lacks;
 * weights changed after compiling are used; no tensors leak; misuse gives a coded error.
 * Skips without the addon.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../tf.js';
import { relErr } from './testing.js';
import { covidNet, siameseCovidNet, siameseParts, trustFeatureModel, disposeModel } from '../model/covidnet.js';
import { initBackend } from './index.js';
import { loadAddon } from './native.js';
import { compilePlan, PlanRunner, type CompiledPlan } from './plan.js';

const load = loadAddon();
const skip = load.ok ? false : `native addon not available (${load.error}); build it with \`make native\``;
const TOL = 1e-5;
const CFG = { size: 64, width: 8, fc: 16 };

/** Random non-zero biases too (a fresh model's are zero, which would hide a missing bias). */
function randomizeBiases(model: tf.LayersModel, seed: number): void {
  let k = 0;
  for (const w of model.weights) {
    if (w.name.endsWith('bias')) {
      const v = w.read();
      w.write(tf.tidy(() => tf.randomUniform(v.shape, -0.2, 0.2, 'float32', seed + k++)));
    }
  }
}

function mustCompile(model: tf.LayersModel): CompiledPlan {
  const c = compilePlan(model);
  if (!c.ok) throw new Error(`not compiled: ${c.reason}`);
  return c.plan;
}

/** Every output of the plan equals model.predict's within TOL (max |d| / max |ref|). */
function assertSame(model: tf.LayersModel, plan: CompiledPlan, x: tf.Tensor4D, label: string): void {
  const ref = tf.tidy(() => {
    const y = model.predict(x);
    return (Array.isArray(y) ? y : [y]).map((t) => tf.keep(t));
  });
  const got = plan.run(x);
  assert.equal(got.length, ref.length, label);
  got.forEach((g, i) => {
    assert.deepEqual(g.shape, ref[i]!.shape, `${label} output ${i} shape`);
    const e = relErr(g.dataSync() as Float32Array, ref[i]!.dataSync() as Float32Array);
    assert.ok(e <= TOL, `${label} output ${i}: relative error ${e}`);
  });
  tf.dispose([...got, ...ref]);
}

test('compiled plan equals the TF.js path', { skip }, async (t) => {
  await initBackend({ backend: 'onednn', purpose: 'infer', threads: 2 });

  await t.test('single net and its trust features, batch 1 and 3', () => {
    const model = covidNet({ ...CFG, seed: 3 });
    randomizeBiases(model, 10);
    const features = trustFeatureModel(model, 'single');
    const plan = mustCompile(model);
    const fplan = mustCompile(features);
    // ops: 5 program ops per fused PEPX module count as 1
    assert.ok(plan.info.ops + 4 * plan.info.fusedPepx > 50 && plan.info.slots < plan.info.values, JSON.stringify(plan.info));
    for (const n of [1, 3]) {
      const x = tf.randomNormal([n, CFG.size, CFG.size, 1], 0, 1, 'float32', 20 + n) as tf.Tensor4D;
      assertSame(model, plan, x, `single n=${n}`);
      assertSame(features, fplan, x, `features n=${n}`);
      x.dispose();
    }
    plan.dispose();
    fplan.dispose();
    model.dispose();
  });

  await t.test('both parallel modes × every pointwise path (sgemm, matmul, the AVX-512 kernel alone and fused into PEPX modules) give the same values', () => {
    const model = covidNet({ ...CFG, seed: 8 });
    randomizeBiases(model, 80);
    const x = tf.randomNormal([3, CFG.size, CFG.size, 1], 0, 1, 'float32', 81) as tf.Tensor4D; // 3 images on 2 threads: uneven
    const keys = ['COVIDNET_PLAN_PARALLEL', 'COVIDNET_PLAN_GEMM', 'COVIDNET_PLAN_FUSE'] as const;
    const saved = keys.map((k) => process.env[k]);
    const kernel = load.ok && load.addon.cpuFeatures().avx512f;
    try {
      for (const mode of ['image', 'layer']) {
        for (const [gemm, fuse] of [['sgemm', '1'], ['matmul', '1'], ['kernel', '0'], ['kernel', '1']] as const) {
          // read when a plan is made and when it makes its primitives for a batch size
          process.env['COVIDNET_PLAN_PARALLEL'] = mode;
          process.env['COVIDNET_PLAN_GEMM'] = gemm;
          process.env['COVIDNET_PLAN_FUSE'] = fuse;
          const plan = mustCompile(model);
          // the kernel path fuses every PEPX module (16) where the CPU has AVX-512, and only then
          assert.equal(plan.info.fusedPepx, gemm === 'kernel' && fuse === '1' && kernel ? 16 : 0, `${mode}, ${gemm}, fuse ${fuse}`);
          // the tail (maps of ≤ 64 pixels: from stage 2's second module at 64²) runs on groups of
          // images in the image-parallel mode: here 1 and 2 images per thread, fused modules whole
          assert.ok(plan.info.tailSteps >= 10, `${mode}, ${gemm}, fuse ${fuse}: tail of ${plan.info.tailSteps} steps`);
          assertSame(model, plan, x, `${mode}-parallel, ${gemm}, fuse ${fuse}`);
          plan.dispose();
        }
      }
    } finally {
      keys.forEach((k, i) => {
        const v = saved[i];
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      });
    }
    x.dispose();
    model.dispose();
  });

  await t.test('batch 1 after a pause: on all threads and on the calling thread alone, the same values; the plan tries both, then takes the faster', async () => {
    const model = covidNet({ ...CFG, seed: 9 });
    randomizeBiases(model, 90);
    const x = tf.randomNormal([1, CFG.size, CFG.size, 1], 0, 1, 'float32', 91) as tf.Tensor4D;
    const ref = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync() as Float32Array);
    // a pause with no native call, past the plan's 10 ms (plan.cc kColdGapSeconds)
    const pause = (): Promise<void> => new Promise((r) => setTimeout(r, 40));
    const saved = process.env['COVIDNET_PLAN_COLD'];
    const runOnce = (plan: CompiledPlan, label: string): void => {
      const [y] = plan.run(x);
      const e = relErr(y!.dataSync() as Float32Array, ref);
      y!.dispose();
      assert.ok(e <= TOL, `${label}: relative error ${e}`);
    };
    try {
      // auto: each way twice (a first run that makes its primitives is not timed), then the faster
      delete process.env['COVIDNET_PLAN_COLD'];
      const plan = mustCompile(model);
      for (let k = 0; k < 5; k++) {
        await pause();
        runOnce(plan, `cold run ${k}`);
      }
      const c = plan.info.cold;
      assert.equal(c.runs, 5, JSON.stringify(c));
      assert.ok(c.threadsMs > 0 && c.aloneMs > 0, `both ways measured: ${JSON.stringify(c)}`);
      // right after a run the worker is awake: not a cold run
      runOnce(plan, 'warm run');
      assert.equal(plan.info.cold.runs, 5, 'a run right after another counted as cold');
      plan.dispose();
      for (const way of ['threads', 'alone'] as const) {
        process.env['COVIDNET_PLAN_COLD'] = way;
        const forced = mustCompile(model);
        for (let k = 0; k < 2; k++) {
          await pause();
          runOnce(forced, `${way}, run ${k}`);
        }
        const f = forced.info.cold;
        assert.ok(way === 'alone' ? f.aloneMs > 0 && f.threadsMs === 0 : f.threadsMs > 0 && f.aloneMs === 0, `${way}: ${JSON.stringify(f)}`);
        forced.dispose();
      }
    } finally {
      if (saved === undefined) delete process.env['COVIDNET_PLAN_COLD'];
      else process.env['COVIDNET_PLAN_COLD'] = saved;
    }
    x.dispose();
    model.dispose();
  });

  await t.test('wide channels (K > 128: K chunks; N > 64: packed weight panels; short blocks) and a big dense layer (streamed) on every path', () => {
    // size 64, width 32: 1×1 convs up to 256 → 256 on maps of 32×32 down to 4×4; fc1 1024 × 1024
    const model = covidNet({ size: 64, width: 32, fc: 1024, seed: 12 });
    randomizeBiases(model, 120);
    const x = tf.randomNormal([3, 64, 64, 1], 0, 1, 'float32', 121) as tf.Tensor4D;
    const keys = ['COVIDNET_PLAN_PARALLEL', 'COVIDNET_PLAN_GEMM'] as const;
    const saved = keys.map((k) => process.env[k]);
    try {
      for (const mode of ['image', 'layer']) {
        for (const gemm of ['kernel', 'matmul']) {
          process.env['COVIDNET_PLAN_PARALLEL'] = mode;
          process.env['COVIDNET_PLAN_GEMM'] = gemm;
          const plan = mustCompile(model);
          assertSame(model, plan, x, `wide, ${mode}-parallel, ${gemm}`);
          plan.dispose();
        }
      }
    } finally {
      keys.forEach((k, i) => {
        const v = saved[i];
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      });
    }
    x.dispose();
    model.dispose();
  });

  await t.test('siamese encoder (L2-normalised embedding), batch 1 and 4', () => {
    const model = siameseCovidNet({ ...CFG, seed: 4, normalizeEmbedding: true });
    randomizeBiases(model, 30);
    const { encoder } = siameseParts(model);
    const plan = mustCompile(encoder);
    const features = trustFeatureModel(model, 'siamese');
    const fplan = mustCompile(features);
    for (const n of [1, 4]) {
      const x = tf.randomNormal([n, CFG.size, CFG.size, 1], 0, 1, 'float32', 40 + n) as tf.Tensor4D;
      assertSame(encoder, plan, x, `encoder n=${n}`);
      assertSame(features, fplan, x, `siamese features n=${n}`);
      x.dispose();
    }
    // the two-input net itself is not a plan (its encoder is)
    const whole = compilePlan(model);
    assert.equal(whole.ok, false);
    assert.match(!whole.ok ? whole.reason : '', /2 inputs/);
    plan.dispose();
    fplan.dispose();
    disposeModel(model);
  });

  await t.test('weights changed after compiling are the ones used', () => {
    const model = covidNet({ ...CFG, seed: 5 });
    const plan = mustCompile(model);
    const x = tf.randomNormal([2, CFG.size, CFG.size, 1], 0, 1, 'float32', 50) as tf.Tensor4D;
    const before = plan.run(x);
    // setWeights (new variable storage) on the logits layer and a conv in the trunk
    const logits = model.getLayer('logits');
    logits.setWeights(logits.getWeights().map((w) => tf.mul(w, 3)));
    const conv = model.getLayer('stage2/pepx1/depthwise');
    conv.setWeights(conv.getWeights().map((w) => tf.add(w, 0.05)));
    assertSame(model, plan, x, 'after setWeights');
    const after = plan.run(x);
    assert.ok(relErr(after[0]!.dataSync() as Float32Array, before[0]!.dataSync() as Float32Array) > 1e-3, 'the outputs moved');
    // an in-place write into a variable's storage (what the native Adam does)
    const stem = model.getLayer('stem/conv').weights[0]!.read();
    const b = tf.backend() as unknown as { values(t: tf.Tensor): Float32Array };
    b.values(stem).fill(0.01);
    assertSame(model, plan, x, 'after an in-place write');
    tf.dispose([...before, ...after, x]);
    plan.dispose();
    model.dispose();
  });

  await t.test('a layer the plan lacks: not compiled, the runner falls back to predict', () => {
    const input = tf.input({ shape: [8, 8, 1] });
    const h = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(input) as tf.SymbolicTensor;
    const g = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(h) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2 }).apply(g) as tf.SymbolicTensor });
    const c = compilePlan(model);
    assert.equal(c.ok, false);
    assert.match(!c.ok ? c.reason : '', /gap \(GlobalAveragePooling2D\) is not covered/);
    const runner = new PlanRunner();
    const x = tf.randomNormal([2, 8, 8, 1], 0, 1, 'float32', 60) as tf.Tensor4D;
    const [y] = runner.run(model, x);
    const ref = model.predict(x) as tf.Tensor;
    assert.deepEqual(Array.from(y!.dataSync()), Array.from(ref.dataSync()));
    assert.match(runner.status(model) ?? '', /GlobalAveragePooling2D/);
    tf.dispose([x, y!, ref]);
    runner.dispose();
    model.dispose();
  });

  await t.test('runner: plan on onednn, predict on cpu; no leaked tensors', async () => {
    const model = covidNet({ ...CFG, seed: 6 });
    const runner = new PlanRunner();
    const x = tf.randomNormal([2, CFG.size, CFG.size, 1], 0, 1, 'float32', 70) as tf.Tensor4D;
    const warm = runner.run(model, x);
    tf.dispose(warm);
    assert.equal(runner.status(model), 'plan');
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) tf.dispose(runner.run(model, x));
    tf.tidy(() => {
      runner.run(model, x); // made inside a tidy: freed by it
    });
    assert.equal(tf.memory().numTensors, before, 'tensors leaked');
    const onPlan = runner.run(model, x)[0]!;
    const planned = Float32Array.from(onPlan.dataSync());
    onPlan.dispose();
    const data = Float32Array.from(x.dataSync());
    await tf.setBackend('cpu');
    const xc = tf.tensor4d(data, x.shape);
    const [onCpu] = runner.run(model, xc);
    assert.ok(relErr(planned, onCpu!.dataSync() as Float32Array) <= 1e-4, 'cpu agrees');
    tf.dispose([xc, onCpu!]);
    await tf.setBackend('onednn');
    runner.dispose();
    x.dispose();
    model.dispose();
  });

  await t.test('bad calls: coded errors, never a crash', () => {
    const model = covidNet({ ...CFG, seed: 7 });
    const plan = mustCompile(model);
    const code = (c: string) => (e: unknown): boolean => (e as { code?: string }).code === c;
    const wrong = tf.zeros([2, CFG.size + 1, CFG.size, 1]) as tf.Tensor4D;
    assert.throws(() => plan.run(wrong), code('E_PLAN_INPUT'));
    const ints = tf.zeros([1, CFG.size, CFG.size, 1], 'int32') as tf.Tensor4D;
    assert.throws(() => plan.run(ints), code('E_PLAN_INPUT'));
    const flat = tf.zeros([CFG.size * CFG.size]) as unknown as tf.Tensor4D;
    assert.throws(() => plan.run(flat), code('E_PLAN_INPUT'));
    assert.throws(() => plan.run(new Float32Array(4) as unknown as tf.Tensor4D), code('E_PLAN_INPUT'));
    plan.dispose();
    plan.dispose(); // idempotent
    const ok = tf.zeros([1, CFG.size, CFG.size, 1]) as tf.Tensor4D;
    assert.throws(() => plan.run(ok), code('E_PLAN_DISPOSED'));
    assert.throws(() => plan.info, code('E_PLAN_DISPOSED'));
    tf.dispose([wrong, ints, flat, ok]);
    model.dispose();
  });
});
