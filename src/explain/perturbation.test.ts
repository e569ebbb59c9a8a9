import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../tf.js';
import { gaussianBlur, perturbationMaps, type LogitFn } from './perturbation.js';

const SIZE = 32;

test('gaussianBlur: a constant image is unchanged; an impulse spreads symmetrically with unit mass and variance σ² per axis', () => {
  const flat = new Float32Array(SIZE * SIZE).fill(0.7);
  assert.ok(gaussianBlur(flat, SIZE, 3).every((v) => Math.abs(v - 0.7) < 1e-5));
  const imp = new Float32Array(SIZE * SIZE);
  const c = SIZE / 2;
  imp[c * SIZE + c] = 1;
  const sigma = 2.5;
  const b = gaussianBlur(imp, SIZE, sigma);
  let mass = 0;
  let varX = 0;
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const v = b[y * SIZE + x]!;
      mass += v;
      varX += v * (x - c) ** 2;
      assert.ok(Math.abs(v - b[x * SIZE + y]!) < 1e-7, 'transpose-symmetric');
      if (x > 0 && x < SIZE - 1) assert.ok(Math.abs(v - b[y * SIZE + (2 * c - x)]!) < 1e-7, 'mirror-symmetric');
    }
  }
  assert.ok(Math.abs(mass - 1) < 1e-5, `mass ${mass}`);
  assert.ok(Math.abs(varX - sigma * sigma) < 0.05 * sigma * sigma, `variance ${varX}`);
  assert.equal(b.indexOf(Math.max(...b)), c * SIZE + c);
});

test('perturbation maps: the evidence cell is hottest with either baseline, for insertion and occlusion; bad baselines are refused; no leaked tensors', () => {
  // class 0's logit = the brightest pixel, class 1's = 0: only the cell holding the spot matters
  const logits: LogitFn = (t) => {
    const d = t.dataSync() as Float32Array;
    const n = t.shape[0];
    const out = new Float32Array(n * 2);
    for (let i = 0; i < n; i++) {
      let m = -Infinity;
      for (let k = i * SIZE * SIZE; k < (i + 1) * SIZE * SIZE; k++) m = Math.max(m, d[k]!);
      out[i * 2] = m;
    }
    return out;
  };
  const img = new Float32Array(SIZE * SIZE);
  // the spot inside cell (row 1, col 2) of a 4×4 grid (8-px cells)
  img[(8 + 3) * SIZE + 16 + 4] = 5;
  const x = tf.tensor4d(img, [1, SIZE, SIZE, 1]);
  const before = tf.memory().numTensors;
  for (const method of ['insertion', 'occlusion'] as const) {
    for (const baseline of ['blur', 'blank'] as const) {
      const [r] = perturbationMaps(logits, x, [{ target: 0, other: 1 }], { method, cells: 4, baseline });
      assert.equal(r!.map.indexOf(Math.max(...r!.map)), 1 * 4 + 2, `${method} ${baseline}`);
      assert.ok(r!.map.every((v, k) => k === 6 || v === 0), `${method} ${baseline}: only the spot's cell is hot`);
    }
  }
  assert.throws(() => perturbationMaps(logits, x, [{ target: 0, other: 1 }], { method: 'insertion', baseline: 'noise' as 'blur' }), /baseline must be one of blur, blank, got noise/);
  assert.throws(() => perturbationMaps(logits, x, [{ target: 0, other: 1 }], { method: 'insertion', blurSigma: 0 }), /blurSigma must be > 0/);
  assert.equal(tf.memory().numTensors, before);
  x.dispose();
});
