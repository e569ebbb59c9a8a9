import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLASSES, type ClassName } from '../types.js';
import { patientKey } from './load.js';
import { assertPatientDisjoint, splitDataset, subsamplePerClass } from './split.js';
import type { DatasetItem } from './types.js';

/** n patients per class, some with 2–3 images. */
function items(nPerClass: number, withSplit?: (i: number) => DatasetItem['split']): DatasetItem[] {
  const out: DatasetItem[] = [];
  let k = 0;
  for (const c of CLASSES) {
    for (let p = 0; p < nPerClass; p++) {
      const imgs = 1 + (p % 3 === 0 ? 2 : 0);
      for (let j = 0; j < imgs; j++) {
        const it: DatasetItem = { file: `/x/${c}-${p}-${j}.png`, label: c, patientId: `${c}-${p}`, source: 's' };
        const s = withSplit?.(p);
        if (s) it.split = s;
        out.push(it);
        k++;
      }
    }
  }
  return out;
}

const patients = (xs: DatasetItem[], c?: ClassName): Set<string> => new Set(xs.filter((x) => !c || x.label === c).map(patientKey));

test('no source splits: test then val by patient, per class, seeded and patient-disjoint', () => {
  const all = items(50);
  const s = splitDataset(all, { valFraction: 0.2, testFraction: 0.1, seed: 3 });
  assert.equal(s.train.length + s.val.length + s.test.length, all.length);
  for (const c of CLASSES) {
    assert.equal(patients(s.test, c).size, 5);
    assert.equal(patients(s.val, c).size, 9); // 20% of the 45 left
  }
  assert.ok(s.train.every((x) => x.split === 'train') && s.val.every((x) => x.split === 'val') && s.test.every((x) => x.split === 'test'));
  assertPatientDisjoint(s);
  // reproducible, and different for another seed
  assert.deepEqual(splitDataset(all, { valFraction: 0.2, testFraction: 0.1, seed: 3 }), s);
  assert.notDeepEqual(splitDataset(all, { valFraction: 0.2, testFraction: 0.1, seed: 4 }).val, s.val);
  // independent of item order
  const rev = splitDataset([...all].reverse(), { valFraction: 0.2, testFraction: 0.1, seed: 3 });
  assert.deepEqual(patients(rev.val), patients(s.val));
});

test("source splits are kept; val is carved from train when the source has none", () => {
  const all = items(20, (p) => (p < 5 ? 'test' : 'train'));
  const s = splitDataset(all, { valFraction: 0.25, testFraction: 0.5, seed: 1 });
  assert.deepEqual(patients(s.test), patients(all.filter((x) => x.split === 'test')));
  for (const c of CLASSES) assert.equal(patients(s.val, c).size, 4); // 25% of 15 train patients, rounded
  const given = items(10, (p) => (p < 2 ? 'test' : p < 4 ? 'val' : 'train'));
  const g = splitDataset(given, { valFraction: 0.5, testFraction: 0.5, seed: 1 });
  assert.equal(patients(g.val).size, 6);
  assert.equal(patients(g.test).size, 6);
});

test('a patient with images of two classes stays in one split', () => {
  const all = items(10);
  all.push({ file: '/x/extra.png', label: 'pneumonia', patientId: 'COVID-19-1', source: 's' });
  const s = splitDataset(all, { valFraction: 0.3, testFraction: 0.3, seed: 9 });
  assertPatientDisjoint(s);
});

test('overlap between splits is refused, naming the patients', () => {
  const a: DatasetItem = { file: '/a.png', label: 'normal', patientId: '17', source: 'nih' };
  const b: DatasetItem = { file: '/b.png', label: 'normal', patientId: '17', source: 'nih' };
  const c: DatasetItem = { file: '/c.png', label: 'normal', patientId: '17', source: 'other' };
  assert.throws(() => assertPatientDisjoint({ train: [a], test: [b] }), { code: 'E_PATIENT_OVERLAP', message: /nih\/17 \(train\+test\)/ });
  assertPatientDisjoint({ train: [a], test: [c] }); // another source's patient 17
  assert.throws(() => splitDataset([{ ...a, split: 'train' }, { ...b, split: 'test' }], { valFraction: 0.2, testFraction: 0.2, seed: 1 }), { code: 'E_PATIENT_OVERLAP' });
});

test('bad fractions are option errors', () => {
  assert.throws(() => splitDataset(items(3), { valFraction: 1, testFraction: 0, seed: 1 }), { code: 'E_OPTION' });
  assert.throws(() => splitDataset(items(3), { valFraction: 0.2, testFraction: -0.1, seed: 1 }), { code: 'E_OPTION' });
});

test('subsamplePerClass: at most n per class, nested across n, independent of input order', () => {
  const all: DatasetItem[] = [];
  for (const label of ['normal', 'pneumonia', 'COVID-19'] as const) for (let i = 0; i < 30; i++) all.push({ file: `/d/${label}/${i}.png`, label, patientId: `${label}${i}`, source: 's' });
  const files = (xs: readonly DatasetItem[]) => new Set(xs.map((x) => x.file));
  const five = subsamplePerClass(all, 5, 3);
  const ten = subsamplePerClass(all, 10, 3);
  assert.equal(five.kept.length, 15);
  assert.equal(five.left.length, 75);
  for (const c of ['normal', 'pneumonia', 'COVID-19']) assert.equal(five.kept.filter((x) => x.label === c).length, 5);
  for (const f of files(five.kept)) assert.ok(files(ten.kept).has(f), `the 5 are inside the 10: ${f}`);
  assert.deepEqual(files(subsamplePerClass([...all].reverse(), 5, 3).kept), files(five.kept));
  assert.notDeepEqual(files(subsamplePerClass(all, 5, 4).kept), files(five.kept));
  // more than a class has: all of it
  assert.equal(subsamplePerClass(all, 100, 3).kept.length, 90);
  assert.throws(() => subsamplePerClass(all, 0, 3), /--per-class/);
});
