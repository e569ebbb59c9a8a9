import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLASSES, type ClassName } from '../types.js';
import { createRng } from '../util/rng.js';
import { balancedEpoch, oneShotTrials, pairEpoch } from './samplers.js';

const labels: ClassName[] = [...Array<ClassName>(100).fill('normal'), ...Array<ClassName>(60).fill('pneumonia'), ...Array<ClassName>(12).fill('COVID-19')];

test('balanced epoch: all COVID-19 plus as many of each other class, redrawn each epoch, seeded', () => {
  const rng = createRng(5);
  const e1 = balancedEpoch(labels, rng);
  const e2 = balancedEpoch(labels, rng);
  for (const e of [e1, e2]) {
    assert.equal(e.length, 36);
    assert.equal(new Set(e).size, 36);
    for (const c of CLASSES) assert.equal(e.filter((i) => labels[i] === c).length, 12);
    assert.deepEqual(e.filter((i) => labels[i] === 'COVID-19').sort((a, b) => a - b), Array.from({ length: 12 }, (_, i) => 160 + i));
  }
  assert.notDeepEqual(e1, e2);
  assert.deepEqual(balancedEpoch(labels, createRng(5)), e1);
  // no COVID-19: smallest class size
  assert.equal(balancedEpoch(labels.filter((l) => l !== 'COVID-19'), createRng(1)).length, 120);
});

test('pairs: half same, half different, even over the class combinations, distinct images in same pairs', () => {
  const pairs = pairEpoch(labels, 600, createRng(2));
  assert.equal(pairs.length, 600);
  const same = pairs.filter((p) => p.same);
  assert.equal(same.length, 300);
  const combo = new Map<string, number>();
  for (const p of pairs) {
    assert.equal(p.same, labels[p.a] === labels[p.b]);
    if (p.same) assert.notEqual(p.a, p.b);
    const k = [labels[p.a], labels[p.b]].sort().join('|');
    combo.set(k, (combo.get(k) ?? 0) + 1);
  }
  assert.equal(combo.size, 6);
  for (const v of combo.values()) assert.equal(v, 100);
  // COVID-19 appears in both slots of different pairs
  const diffCovid = pairs.filter((p) => !p.same && (labels[p.a] === 'COVID-19' || labels[p.b] === 'COVID-19'));
  assert.ok(diffCovid.some((p) => labels[p.a] === 'COVID-19') && diffCovid.some((p) => labels[p.b] === 'COVID-19'));
  assert.deepEqual(pairEpoch(labels, 600, createRng(2)), pairs);
  assert.equal(pairEpoch(labels, 7, createRng(1)).length, 7);
});

test('one-shot trials: one support per class in CLASSES order, balanced queries, never the query itself', () => {
  const trials = oneShotTrials(labels, labels, 129, createRng(4));
  assert.equal(trials.length, 129);
  for (const t of trials) {
    assert.equal(labels[t.query], t.label);
    t.support.forEach((s, k) => assert.equal(labels[s], CLASSES[k]));
    assert.ok(!t.support.includes(t.query));
  }
  for (const c of CLASSES) assert.equal(trials.filter((t) => t.label === c).length, 43);
  assert.throws(() => oneShotTrials(labels, ['normal', 'pneumonia'], 3, createRng(1)), { code: 'E_OPTION' });
});
