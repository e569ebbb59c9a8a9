import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRng } from '../util/rng.js';
import { linearProbe } from './probe.js';

function gaussian(rng: ReturnType<typeof createRng>): number {
  return Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
}

/** 300 samples of 32 features, 3 sources, 2 images per patient. */
function data(planted: boolean, seed: number) {
  const rng = createRng(seed);
  const sources = ['a', 'b', 'c'];
  const features: Float64Array[] = [];
  const labels: string[] = [];
  const groups: string[] = [];
  for (let i = 0; i < 300; i++) {
    const s = sources[Math.floor(rng.next() * 3)]!;
    const f = Float64Array.from({ length: 32 }, () => gaussian(rng));
    // planted: the source shifts two of the 32 features (it takes a linear combination to read)
    if (planted) {
      f[3]! += s === 'a' ? 3 : s === 'b' ? -3 : 0;
      f[7]! += s === 'c' ? 4 : 0;
    }
    features.push(f);
    labels.push(s);
    groups.push(`p${Math.floor(i / 2)}`);
  }
  return { features, labels, groups };
}

test('linear probe: at chance when the source is random, near 1 when it is planted', () => {
  for (const seed of [1, 2]) {
    const r = data(false, seed);
    const p = linearProbe(r.features, r.labels, r.groups, { seed });
    assert.equal(p.n, 300);
    assert.deepEqual(p.labels, ['a', 'b', 'c']);
    assert.ok(Math.abs(p.balanced_accuracy - 1 / 3) < 0.1, `random source: balanced accuracy ${p.balanced_accuracy}`);
    assert.ok(p.accuracy < p.chance_accuracy + 0.1, `random source: accuracy ${p.accuracy} vs chance ${p.chance_accuracy}`);
    const q = data(true, seed);
    const pq = linearProbe(q.features, q.labels, q.groups, { seed });
    assert.ok(pq.balanced_accuracy > 0.93, `planted source: balanced accuracy ${pq.balanced_accuracy}`);
  }
});

test('linear probe: rare labels are dropped and listed; one label left is not measurable', () => {
  const r = data(true, 3);
  const labels = r.labels.map((l, i) => (i < 3 ? 'rare' : l));
  const p = linearProbe(r.features, labels, r.groups);
  assert.deepEqual(p.dropped, { rare: 3 });
  assert.equal(p.n, 297);
  const one = linearProbe(r.features, r.labels.map(() => 'x'), r.groups);
  assert.ok(Number.isNaN(one.accuracy));
  assert.deepEqual(one.labels, ['x']);
});
