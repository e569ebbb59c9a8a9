import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClassName } from '../types.js';
import { breakdown, checkGroupColumn, minorityOfSource, sourceClassCounts, sourceOnlyPredictions } from './breakdown.js';

const row = (label: ClassName, predicted: ClassName, group: string) => ({ label, predicted, group });

test('breakdown by group: support, accuracy and per-class sensitivity', () => {
  const g = breakdown([row('normal', 'normal', 'nih'), row('pneumonia', 'normal', 'nih'), row('pneumonia', 'pneumonia', 'nih'), row('COVID-19', 'COVID-19', 'cohen'), row('normal', 'COVID-19', 'cohen')]);
  assert.deepEqual(g.map((x) => [x.group, x.support, x.accuracy.x]), [['nih', 3, 2], ['cohen', 2, 1]]);
  const nih = g[0]!;
  assert.equal(nih.per_class.normal.sensitivity!.value, 1);
  assert.equal(nih.per_class.pneumonia.sensitivity!.value, 0.5);
  assert.equal(nih.per_class['COVID-19'].sensitivity, null);
  assert.equal(g[1]!.per_class.normal.sensitivity!.value, 0);
});

test('source-only baseline and minority-of-source images', () => {
  const train = [
    ...Array.from({ length: 6 }, () => ({ label: 'normal' as const, source: 'nih' })),
    ...Array.from({ length: 5 }, () => ({ label: 'pneumonia' as const, source: 'nih' })),
    ...Array.from({ length: 8 }, () => ({ label: 'COVID-19' as const, source: 'cohen' })),
    { label: 'normal' as const, source: 'cohen' },
  ];
  const counts = sourceClassCounts(train);
  assert.deepEqual(sourceOnlyPredictions(counts, [{ source: 'nih' }, { source: 'cohen' }, { source: 'elsewhere' }]), ['normal', 'COVID-19', 'COVID-19']);
  // nih pneumonia: 5/11 of nih, not a minority; cohen normal: 1/9, a minority; an unseen source counts (and gets the most common class overall, COVID-19: 8 of 20)
  assert.equal(minorityOfSource(counts, { label: 'pneumonia', source: 'nih' }), false);
  assert.equal(minorityOfSource(counts, { label: 'normal', source: 'cohen' }), true);
  assert.equal(minorityOfSource(counts, { label: 'normal', source: 'elsewhere' }), true);
});

test('--by must name a column of the source', () => {
  const items = [{ source: 'nih', label: 'normal' as const, patientId: 'p', meta: { view: 'PA' } }];
  checkGroupColumn(items, 'view');
  checkGroupColumn(items, 'source');
  assert.throws(() => checkGroupColumn(items, 'hospital'), /--by.*source, label, patient_id, view/);
});
