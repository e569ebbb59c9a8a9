import { test } from 'node:test';
import assert from 'node:assert/strict';
import { balancedAccuracy, mcnemarExact, mcnemarP, pairedBootstrap, seedSummary, tQuantile975 } from './stats.js';

const close = (a: number, b: number, tol = 1e-4) => assert.ok(Math.abs(a - b) < tol, `${a} vs ${b}`);

test('seedSummary: mean, sample sd and the t interval, by hand', () => {
  // 0.5, 0.6, 0.7: mean 0.6, sd 0.1, t(0.975, 2) = 4.303, half width 4.303 · 0.1 / √3 = 0.248434
  const s = seedSummary([0.5, 0.6, 0.7]);
  close(s.mean, 0.6);
  close(s.sd, 0.1);
  close(s.lo, 0.6 - 0.248434);
  close(s.hi, 0.6 + 0.248434);
  assert.equal(s.n, 3);
  // five seeds: t(0.975, 4) = 2.776
  const f = seedSummary([1, 2, 3, 4, 5]);
  close(f.sd, Math.sqrt(2.5));
  close(f.hi - f.mean, (2.776 * Math.sqrt(2.5)) / Math.sqrt(5));
  // one seed: no spread, no interval; bounds clip a rate's interval
  const one = seedSummary([0.4]);
  assert.ok(Number.isNaN(one.sd) && Number.isNaN(one.lo));
  const clipped = seedSummary([0.1, 0.9], [0, 1]);
  assert.equal(clipped.lo, 0);
  assert.equal(clipped.hi, 1);
  assert.equal(seedSummary([NaN, 0.5]).n, 1);
  assert.equal(tQuantile975(1), 12.706);
  assert.equal(tQuantile975(200), 1.96);
});

test('McNemar exact test against hand-computed tables', () => {
  // b = 8, c = 2: p = 2 · (C(10,0) + C(10,1) + C(10,2)) / 2^10 = 2 · 56 / 1024
  close(mcnemarP(8, 2), 112 / 1024, 1e-12);
  close(mcnemarP(2, 8), 112 / 1024, 1e-12);
  // b = 10, c = 0: 2 / 1024
  close(mcnemarP(10, 0), 2 / 1024, 1e-12);
  // b = c: p = 1 (capped)
  assert.equal(mcnemarP(5, 5), 1);
  assert.equal(mcnemarP(0, 0), 1);
  // b = 1, c = 0: 2 · 1/2 = 1
  assert.equal(mcnemarP(1, 0), 1);
  // from per-image correctness: 3 a-only, 1 b-only, 2 both, 1 neither
  const a = [true, true, true, false, true, true, false];
  const b = [false, false, false, true, true, true, false];
  const m = mcnemarExact(a, b);
  assert.deepEqual([m.b, m.c], [3, 1]);
  close(m.p, (2 * (1 + 4)) / 16, 1e-12);
  // large counts stay finite and exact enough: b = 300, c = 250
  const big = mcnemarP(300, 250);
  assert.ok(big > 0.03 && big < 0.05, String(big));
});

test('balanced accuracy on a subset of images', () => {
  const truth = [0, 0, 1, 1, 2, 2];
  const pred = [0, 1, 1, 1, 0, 2];
  close(balancedAccuracy(truth, pred, 3), (0.5 + 1 + 0.5) / 3);
  close(balancedAccuracy(truth, pred, 3, [0, 0, 2]), (1 + 1) / 2);
});

test('paired bootstrap: known cases', () => {
  const truth = Array.from({ length: 60 }, (_, i) => i % 3);
  // identical predictions: difference 0, interval [0, 0], not significant
  const same = pairedBootstrap([{ group: 's', truth, a: truth, b: truth.map((t) => (t + 1) % 3) }, { group: 's', truth, a: truth, b: truth }], 3, { replicates: 300 });
  assert.ok(same.lo <= same.difference && same.difference <= same.hi);
  const id = pairedBootstrap([{ group: 's', truth, a: truth, b: truth }], 3, { replicates: 200 });
  assert.deepEqual([id.difference, id.lo, id.hi, id.significant], [0, 0, 0, false]);
  // a always right, b always wrong: difference 1 whatever is resampled
  const all = pairedBootstrap([{ group: 's', truth, a: truth, b: truth.map((t) => (t + 1) % 3) }], 3, { replicates: 200 });
  assert.deepEqual([all.difference, all.lo, all.hi, all.significant], [1, 1, 1, true]);
  // a right on every image, b right on 2 of 3 per class in every seed: difference 1/3, interval around it
  const b = truth.map((t, i) => (i % 9 < 3 ? (t + 1) % 3 : t));
  const third = pairedBootstrap([1, 2, 3].map(() => ({ group: 's', truth, a: truth, b })), 3, { replicates: 1000, seed: 3 });
  close(third.difference, 1 - balancedAccuracy(truth, b, 3));
  assert.ok(third.lo > 0.15 && third.hi < 0.55 && third.significant, JSON.stringify(third));
  // the same seed gives the same interval
  assert.deepEqual(pairedBootstrap([{ group: 's', truth, a: truth, b }], 3, { replicates: 300, seed: 9 }), pairedBootstrap([{ group: 's', truth, a: truth, b }], 3, { replicates: 300, seed: 9 }));
  // seed variability widens the interval: two seed pairs, one +0.5 and one −0.5 apart
  const half = truth.map((t, i) => (i % 2 ? (t + 1) % 3 : t));
  const mixed = pairedBootstrap([{ group: 's', truth, a: truth, b: half }, { group: 's', truth, a: half, b: truth }], 3, { replicates: 1000 });
  close(mixed.difference, 0);
  assert.ok(mixed.lo < -0.3 && mixed.hi > 0.3 && !mixed.significant, JSON.stringify(mixed));
});
