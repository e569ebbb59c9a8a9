/**
 * Every native kernel of the `onednn` backend against the `cpu` backend on random shapes (odd
 * sizes, strides 1 and 2, 'same' and 'valid', batch 1 and > 1), forward and gradients (tf.grads),
 * within 1e-4 relative (max |onednn − cpu| / max |cpu| per output). Skips without the addon.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../tf.js';
import { relErr } from './testing.js';
import { createRng } from '../util/rng.js';
import { initBackend } from './index.js';
import { loadAddon } from './native.js';
import { convBiasRelu } from './fusion.js';

const load = loadAddon();
const skip = load.ok ? false : `native addon not available (${load.error}); build it with \`make native\``;
const TOL = 1e-4;
const rng = createRng(20240601);

type Data = { shape: number[]; values: Float32Array };
function rand(shape: number[], scale = 1): Data {
  const n = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = (rng.next() * 2 - 1) * scale;
  return { shape, values };
}
const t = (d: Data): tf.Tensor => tf.tensor(d.values, d.shape);

/** Runs fn on a backend; returns copies of the outputs' values and shapes. */
function runOn(name: string, fn: () => tf.Tensor | tf.Tensor[]): Data[] {
  tf.setBackend(name);
  const before = tf.memory().numTensors;
  const outs = tf.tidy(() => {
    const r = fn();
    return Array.isArray(r) ? r : [r];
  });
  const res = outs.map((o) => ({ shape: o.shape.slice(), values: Float32Array.from(o.dataSync()) }));
  tf.dispose(outs);
  assert.equal(tf.memory().numTensors, before, `${name}: tensors leaked`);
  return res;
}

/** fn on onednn and on cpu: same shapes, values within TOL. */
function agree(label: string, fn: () => tf.Tensor | tf.Tensor[]): void {
  const ref = runOn('cpu', fn);
  const got = runOn('onednn', fn);
  assert.equal(got.length, ref.length, label);
  ref.forEach((r, i) => {
    assert.deepEqual(got[i]!.shape, r.shape, `${label} output ${i} shape`);
    const e = relErr(got[i]!.values, r.values);
    assert.ok(e <= TOL, `${label} output ${i}: relative error ${e.toExponential(2)} > ${TOL}`);
  });
}

/** Forward value and the gradients of sum(f(inputs) * r) for a random r. */
function withGrads(f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: Data[], shared: { r?: Data } = {}): () => tf.Tensor[] {
  return () => {
    const xs = inputs.map(t);
    const y = f(...xs);
    shared.r ??= rand(y.shape);
    const proj = t(shared.r);
    const grads = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(f(...a), proj)))(xs);
    return [y, ...grads];
  };
}

const CONV_CASES = [
  { n: 1, h: 7, w: 9, c: 1, oc: 4, k: 3, s: 1, pad: 'same' as const },
  { n: 3, h: 9, w: 7, c: 3, oc: 5, k: 3, s: 2, pad: 'same' as const },
  { n: 2, h: 11, w: 11, c: 2, oc: 3, k: 7, s: 2, pad: 'same' as const },
  { n: 2, h: 8, w: 10, c: 5, oc: 7, k: 1, s: 1, pad: 'valid' as const },
  { n: 1, h: 9, w: 9, c: 4, oc: 2, k: 3, s: 2, pad: 'valid' as const },
  { n: 3, h: 6, w: 5, c: 6, oc: 8, k: 1, s: 2, pad: 'same' as const },
  { n: 2, h: 13, w: 9, c: 3, oc: 4, k: 5, s: 1, pad: 'valid' as const },
];

test('onednn kernels vs cpu', { skip }, async (tt) => {
  await initBackend({ backend: 'onednn', purpose: 'train', threads: 2 });
  tf.setBackend('cpu');

  await tt.test('Conv2D, Conv2DBackpropInput, Conv2DBackpropFilter', () => {
    for (const c of CONV_CASES) {
      const x = rand([c.n, c.h, c.w, c.c]), w = rand([c.k, c.k, c.c, c.oc]);
      agree(`conv ${JSON.stringify(c)}`, withGrads((a, b) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.pad), [x, w]));
    }
  });

  await tt.test('DepthwiseConv2dNative and both backprops', () => {
    for (const c of CONV_CASES) {
      for (const mult of [1, 2]) {
        const x = rand([c.n, c.h, c.w, c.c]), w = rand([c.k, c.k, c.c, mult]);
        agree(`depthwise ×${mult} ${JSON.stringify(c)}`,
          withGrads((a, b) => tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.pad), [x, w]));
      }
    }
  });

  await tt.test('FusedConv2D and FusedDepthwiseConv2D (bias, relu / linear)', () => {
    for (const c of CONV_CASES) {
      const x = rand([c.n, c.h, c.w, c.c]), w = rand([c.k, c.k, c.c, c.oc]), b = rand([c.oc]);
      const dw = rand([c.k, c.k, c.c, 1]), db = rand([c.c]);
      for (const activation of ['relu', 'linear'] as const) {
        agree(`fused conv ${activation} ${JSON.stringify(c)}`, () =>
          tf.fused.conv2d({ x: t(x) as tf.Tensor4D, filter: t(w) as tf.Tensor4D, strides: c.s, pad: c.pad, bias: t(b), activation }));
        agree(`fused depthwise ${activation} ${JSON.stringify(c)}`, () =>
          tf.fused.depthwiseConv2d({ x: t(x) as tf.Tensor4D, filter: t(dw) as tf.Tensor4D, strides: c.s, pad: c.pad, bias: t(db), activation }));
      }
    }
  });

  await tt.test('training-time conv + bias + ReLU (fused op and its native gradient) vs the unfused cpu ops', () => {
    for (const c of CONV_CASES) {
      for (const depthwise of [false, true]) {
        const x = rand([c.n, c.h, c.w, c.c]);
        const w = rand([c.k, c.k, c.c, depthwise ? 1 : c.oc]);
        const b = rand([depthwise ? c.c : c.oc], 0.3);
        const strides: [number, number] = [c.s, c.s];
        const unfused = (a: tf.Tensor, k: tf.Tensor, bb: tf.Tensor): tf.Tensor =>
          tf.relu(tf.add(depthwise ? tf.depthwiseConv2d(a as tf.Tensor4D, k as tf.Tensor4D, c.s, c.pad)
            : tf.conv2d(a as tf.Tensor4D, k as tf.Tensor4D, c.s, c.pad), bb));
        const shared = {};
        const ref = runOn('cpu', withGrads(unfused, [x, w, b], shared));
        const got = runOn('onednn', withGrads((a, k, bb) =>
          convBiasRelu(a as tf.Tensor4D, k as tf.Tensor4D, bb as tf.Tensor1D, strides, c.pad, depthwise), [x, w, b], shared));
        ref.forEach((r, i) => {
          assert.deepEqual(got[i]!.shape, r.shape);
          const e = relErr(got[i]!.values, r.values);
          assert.ok(e <= TOL, `fused ${depthwise ? 'depthwise' : 'conv'} ${JSON.stringify(c)} output ${i}: ${e}`);
        });
      }
    }
  });

  await tt.test('training-time depthwise 3×3 + bias + ReLU gradient (depthwise.cc: channel tails, one-row and one-column maps, images split over threads)', () => {
    const cases = [
      { n: 3, h: 5, w: 6, c: 20 }, { n: 2, h: 1, w: 7, c: 16 }, { n: 1, h: 6, w: 1, c: 33 }, { n: 5, h: 3, w: 3, c: 48 }, { n: 1, h: 2, w: 2, c: 1 },
    ];
    for (const c of cases) {
      const x = rand([c.n, c.h, c.w, c.c]), w = rand([3, 3, c.c, 1]), b = rand([c.c], 0.3);
      const unfused = (a: tf.Tensor, k: tf.Tensor, bb: tf.Tensor): tf.Tensor => tf.relu(tf.add(tf.depthwiseConv2d(a as tf.Tensor4D, k as tf.Tensor4D, 1, 'same'), bb));
      const shared = {};
      const ref = runOn('cpu', withGrads(unfused, [x, w, b], shared));
      const got = runOn('onednn', withGrads((a, k, bb) => convBiasRelu(a as tf.Tensor4D, k as tf.Tensor4D, bb as tf.Tensor1D, [1, 1], 'same', true), [x, w, b], shared));
      ref.forEach((r, i) => {
        assert.deepEqual(got[i]!.shape, r.shape);
        const e = relErr(got[i]!.values, r.values);
        assert.ok(e <= TOL, `depthwise ${JSON.stringify(c)} output ${i}: ${e}`);
      });
    }
  });

  await tt.test('training-time conv + bias + ReLU: gradients of some inputs only (the data input of the stem, x alone)', () => {
    // the second: a one-channel 7×7 / 2 stem on a larger, odd-sized map (1,728 output pixels), as training's first layer
    for (const c of [CONV_CASES[2]!, { n: 3, h: 48, w: 45, c: 1, oc: 6, k: 7, s: 2, pad: 'same' as const }]) {
      const x = rand([c.n, c.h, c.w, c.c]), w = rand([c.k, c.k, c.c, c.oc]), b = rand([c.oc], 0.3);
      const strides: [number, number] = [c.s, c.s];
      const unfused = (a: tf.Tensor, k: tf.Tensor, bb: tf.Tensor): tf.Tensor =>
        tf.relu(tf.add(tf.conv2d(a as tf.Tensor4D, k as tf.Tensor4D, c.s, c.pad), bb));
      const fused = (a: tf.Tensor, k: tf.Tensor, bb: tf.Tensor): tf.Tensor =>
        convBiasRelu(a as tf.Tensor4D, k as tf.Tensor4D, bb as tf.Tensor1D, strides, c.pad, false);
      const r = rand([c.n, Math.ceil(c.h / c.s), Math.ceil(c.w / c.s), c.oc]);
      // which: the inputs differentiated (the others are constants)
      const partial = (f: typeof fused, which: number[]) => (): tf.Tensor[] => {
        const all = [t(x), t(w), t(b)];
        return tf.grads((...a: tf.Tensor[]) => {
          const args = all.map((v, i) => (which.includes(i) ? a[which.indexOf(i)]! : v));
          return tf.sum(tf.mul(f(args[0]!, args[1]!, args[2]!), t(r)));
        })(which.map((i) => all[i]!));
      };
      for (const which of [[1, 2], [0], [1], [0, 2]]) {
        const ref = runOn('cpu', partial(unfused, which));
        // the leak check of runOn counts what the next fused forward (or the scope's end) disposes:
        // run one first so that an untaken weight gradient shows up as a leak
        const got = runOn('onednn', () => {
          const out = partial(fused, which)();
          tf.dispose(fused(t(x), t(w), t(b)));
          return out;
        });
        ref.forEach((rr, i) => {
          const e = relErr(got[i]!.values, rr.values);
          assert.ok(e <= TOL, `${JSON.stringify(c)} inputs ${which} gradient ${i}: ${e}`);
        });
      }
    }
  });

  await tt.test('MaxPool and MaxPoolGrad', () => {
    const cases = [
      { n: 1, h: 8, w: 8, c: 3, k: 2, s: 2, pad: 'valid' as const },
      { n: 3, h: 7, w: 9, c: 5, k: 2, s: 2, pad: 'same' as const },
      { n: 2, h: 9, w: 9, c: 4, k: 3, s: 2, pad: 'same' as const },
      { n: 2, h: 6, w: 7, c: 2, k: 3, s: 1, pad: 'valid' as const },
    ];
    for (const c of cases) {
      const x = rand([c.n, c.h, c.w, c.c]);
      agree(`maxPool ${JSON.stringify(c)}`, withGrads((a) => tf.maxPool(a as tf.Tensor4D, c.k, c.s, c.pad), [x]));
      agree(`maxPool no tape ${JSON.stringify(c)}`, () => tf.maxPool(t(x) as tf.Tensor4D, c.k, c.s, c.pad));
    }
  });

  await tt.test('BatchMatMul and _FusedMatMul', () => {
    const cases = [
      { b: [], m: 3, k: 5, n: 4 }, { b: [], m: 1, k: 17, n: 9 }, { b: [2], m: 4, k: 3, n: 6 }, { b: [3], m: 5, k: 7, n: 2 },
    ];
    for (const c of cases) {
      for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
        const a = rand([...c.b, ta ? c.k : c.m, ta ? c.m : c.k]);
        const w = rand([...c.b, tb ? c.n : c.k, tb ? c.k : c.n]);
        agree(`matMul ${JSON.stringify(c)} ${ta} ${tb}`, withGrads((x, y) => tf.matMul(x!, y!, ta, tb), [a, w]));
        const bias = rand([c.n]);
        for (const activation of ['relu', 'linear'] as const) {
          agree(`fused matMul ${activation} ${JSON.stringify(c)} ${ta} ${tb}`, () =>
            tf.fused.matMul({ a: t(a), b: t(w), transposeA: ta, transposeB: tb, bias: t(bias), activation }));
        }
      }
    }
  });

  await tt.test('elementwise (Add, Sub, Multiply, RealDiv with broadcasts; Relu, Step, Square, Neg; AddN)', () => {
    const shapes: [number[], number[]][] = [
      [[3, 5, 7], [3, 5, 7]], [[3, 5, 7], [7]], [[7], [2, 3, 7]], [[4, 6], [1]], [[1], [4, 6]], [[2, 3, 4], [1, 1, 4]],
      [[2, 3, 4], [3, 1]], [[70000], [70000]], [[300, 257], [257]],
    ];
    for (const [sa, sb] of shapes) {
      const a = rand(sa), b = rand(sb);
      for (const op of [tf.add, tf.sub, tf.mul] as const) {
        agree(`${op.name} ${sa} ${sb}`, withGrads((x, y) => op(x!, y!), [a, b]));
      }
      const bPos = { shape: b.shape, values: b.values.map((v) => Math.abs(v) + 0.5) };
      agree(`div ${sa} ${sb}`, () => tf.div(t(a), t(bPos)));
    }
    for (const shape of [[5, 3], [2, 9, 9, 4], [80000]]) {
      const x = rand(shape);
      agree(`relu ${shape}`, withGrads((v) => tf.relu(v!), [x]));
      agree(`step ${shape}`, () => [tf.step(t(x)), tf.step(t(x), 0.3), tf.square(t(x)), tf.neg(t(x))]);
      agree(`addN ${shape}`, withGrads((p, q, r) => tf.addN([p!, q!, r!]), [x, rand(shape), rand(shape)]));
    }
  });

  await tt.test('Sum over leading and trailing axes (and the cpu path for others)', () => {
    const x = rand([3, 5, 7, 11]);
    const axes: (number | number[])[] = [0, [0, 1], [0, 1, 2], 3, [2, 3], [1, 2, 3], [0, 1, 2, 3], 1, [0, 2], -1];
    for (const axis of axes) {
      for (const keepDims of [false, true]) {
        agree(`sum ${JSON.stringify(axis)} keepDims=${keepDims}`, withGrads((v) => tf.sum(v!, axis, keepDims), [x]));
      }
    }
    const big = rand([4096, 64]);
    agree('sum big rows', () => tf.sum(t(big), 0));
  });

  await tt.test('UnsortedSegmentSum and the gradient of gather (bit-identical to cpu)', () => {
    const x = rand([37, 5, 3]);
    const ids = Int32Array.from({ length: 37 }, (_, i) => (i * 7) % 11);
    const exact = (label: string, fn: () => tf.Tensor | tf.Tensor[]): void => {
      const ref = runOn('cpu', fn);
      const got = runOn('onednn', fn);
      ref.forEach((r, i) => {
        assert.deepEqual(got[i]!.shape, r.shape, label);
        assert.deepEqual(got[i]!.values, r.values, label);
      });
    };
    exact('unsortedSegmentSum', () => tf.unsortedSegmentSum(t(x), tf.tensor1d(ids, 'int32'), 13));
    const table = rand([9, 16]);
    const idx = Int32Array.from({ length: 40 }, (_, i) => (i * 5) % 9);
    exact('gather gradient', () => tf.grads((a: tf.Tensor) => tf.sum(tf.mul(tf.gather(a, tf.tensor1d(idx, 'int32')), tf.reshape(tf.range(0, 16), [1, 16]))))([t(table)]));
  });

  // cpu's Cast from int32/bool to float32 keeps the integer storage under a float32 dtype; the
  // native kernels must read values, not reinterpret bits (a one-hot target once read as 1e-45).
  await tt.test('float32 tensors backed by integer storage (cast int32/bool, oneHot)', () => {
    agree('cast int32 → mul/add/sum/matmul', () => {
      const i = tf.tensor2d([1, 2, 3, -4, 5, 6], [2, 3], 'int32');
      const f = tf.cast(i, 'float32');
      const x = tf.tensor2d([0.5, 1.5, -2, 3, 0.25, 1], [2, 3]);
      return [tf.mul(f, x), tf.add(x, f), tf.sum(f, 0), tf.matMul(f, tf.transpose(x)), tf.relu(f)];
    });
    agree('cast bool and oneHot', () => {
      const b = tf.cast(tf.greater(tf.tensor1d([1, -1, 2, 0]), 0), 'float32');
      const oh = tf.cast(tf.oneHot(tf.tensor1d([0, 2, 1], 'int32'), 3), 'float32');
      return [tf.mul(b, tf.tensor1d([2, 3, 4, 5])), tf.mul(oh, tf.ones([3, 3])), tf.addN([oh, oh])];
    });
  });

  tf.setBackend('cpu');
});
