import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../tf.js';
import { area, deletionCurve, summariseFaithfulness, type ScoreFn } from './faithfulness.js';

const SIZE = 8;

/**
 * A hand-made model whose answer is known: class 0's score is the mean of the top-left 4×4
 * quadrant (clipped to [0, 1]), class 1's its complement. Blanking that quadrant first must drop
 * the score at once; random orders take on average half the cells to get there.
 */
const quadrantModel: ScoreFn = (x) => {
  const d = x.dataSync();
  const n = x.shape[0];
  return Array.from({ length: n }, (_, i) => {
    let s = 0;
    for (let y = 0; y < 4; y++) for (let xx = 0; xx < 4; xx++) s += d[i * SIZE * SIZE + y * SIZE + xx]!;
    const p = Math.min(1, Math.max(0, s / 16));
    return [p, 1 - p];
  });
};

test('deletion curve: a map on the evidence beats random deletion; a map off it does not', async () => {
  await tf.setBackend('cpu');
  const image = new Float32Array(SIZE * SIZE).fill(1);
  const before = tf.memory().numTensors;
  // 2×2 map of 4-pixel cells: cell 0 is the top-left quadrant
  const right = deletionCurve(quadrantModel, image, SIZE, { map: Float32Array.from([1, 0, 0, 0]), grid: 2, stride: 4 }, 0, { orders: 8 });
  const wrong = deletionCurve(quadrantModel, image, SIZE, { map: Float32Array.from([0, 1, 1, 1]), grid: 2, stride: 4 }, 0, { orders: 8 });
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(right.curve, [1, 0, 0, 0, 0]);
  assert.deepEqual(wrong.curve, [1, 1, 1, 1, 0]);
  assert.equal(right.auc, 0.125);
  assert.equal(wrong.auc, 0.875);
  // random orders: the quadrant is blanked at step k with probability 1/4 each
  assert.ok(right.random_auc > 0.2 && right.random_auc < 0.55, `random area ${right.random_auc}`);
  assert.ok(right.gain > 0 && wrong.gain < 0);
  const s = summariseFaithfulness([right, right, wrong, right]);
  assert.equal(s!.n, 4);
  assert.equal(s!.beats_random, 0.75);
  assert.equal(summariseFaithfulness([]), null);
});

test('deletion curve: steps, the last cells reaching the edge, argument checks', async () => {
  await tf.setBackend('cpu');
  // 3 cells of 2 pixels on a 7-pixel side: the last column and row reach the edge
  const image = new Float32Array(49).fill(1);
  const all: ScoreFn = (x) => {
    const d = x.dataSync() as Float32Array;
    return Array.from({ length: x.shape[0] }, (_, i) => [d.subarray(i * 49, (i + 1) * 49).reduce((a, b) => a + b, 0) / 49]);
  };
  const r = deletionCurve(all, image, 7, { map: new Float32Array(9), grid: 3, stride: 2 }, 0, { steps: 3, orders: 1 });
  assert.equal(r.curve.length, 4);
  assert.equal(r.curve[3], 0); // everything blanked
  assert.equal(area([1, 0]), 0.5);
  assert.throws(() => deletionCurve(all, image, 7, { map: new Float32Array(4), grid: 3, stride: 2 }, 0), /9/);
  assert.throws(() => deletionCurve(all, image, 7, { map: new Float32Array(9), grid: 3, stride: 2 }, 0, { steps: 0 }), /steps/);
});
