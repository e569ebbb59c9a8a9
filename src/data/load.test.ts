import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadDataset, parseLabel } from './load.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'covidnet-load-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));
function touch(p: string, data = 'x'): string {
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, data);
  return p;
}

test('parseLabel accepts the three classes in common spellings', () => {
  assert.equal(parseLabel('COVID-19'), 'COVID-19');
  assert.equal(parseLabel('covid19'), 'COVID-19');
  assert.equal(parseLabel(' Normal '), 'normal');
  assert.equal(parseLabel('Pneumonia'), 'pneumonia');
  assert.equal(parseLabel('lung opacity'), undefined);
});

test('CSV manifest: columns, split, metadata; unknown label with line number, missing file, duplicate', async () => {
  const d = path.join(tmp, 'csv');
  for (const f of ['a.png', 'b.png', 'c.png', 'd.png']) touch(path.join(d, 'img', f));
  writeFileSync(
    path.join(d, 'labels.csv'),
    [
      'file,label,patient_id,source,split,view',
      'img/a.png,normal,p1,nih,train,PA',
      'img/b.png,COVID-19,p2,cohen,test,AP',
      'img/c.png,lung opacity,p3,nih,train,AP',
      'img/missing.png,pneumonia,p4,nih,,PA',
      'img/a.png,pneumonia,p1,nih,train,PA',
      '"img/d.png",pneumonia,p5,nih,validation,PA',
    ].join('\n'),
  );
  const ds = await loadDataset(d);
  assert.equal(ds.kind, 'csv');
  assert.deepEqual(ds.items.map((i) => [path.basename(i.file), i.label, i.patientId, i.source, i.split]), [
    ['a.png', 'normal', 'p1', 'nih', 'train'],
    ['b.png', 'COVID-19', 'p2', 'cohen', 'test'],
    ['d.png', 'pneumonia', 'p5', 'nih', 'val'],
  ]);
  assert.deepEqual(ds.items[0]!.meta, { view: 'PA' });
  assert.ok(path.isAbsolute(ds.items[0]!.file));
  const by = Object.fromEntries(ds.skipped.map((s) => [s.code, s]));
  assert.equal(by['E_LABEL']!.line, 4);
  assert.match(by['E_LABEL']!.reason, /line 4: unknown label "lung opacity"/);
  assert.equal(by['E_FILE_MISSING']!.line, 5);
  assert.equal(by['E_DUPLICATE']!.line, 6);
  assert.match(by['E_DUPLICATE']!.reason, /first on line 2/);
  // the same manifest by its path
  assert.equal((await loadDataset(path.join(d, 'labels.csv'))).items.length, 3);
});

test('CSV manifest without the required columns is refused with a clear error', async () => {
  const p = touch(path.join(tmp, 'bad', 'x.csv'), 'name,class_id\na,1\n');
  await assert.rejects(loadDataset(p), { code: 'E_MANIFEST', message: /file,label,patient_id/ });
  const q = touch(path.join(tmp, 'bad2', 'labels.csv'), 'file,label,patient_id\nq.png,normal,1\n');
  await assert.rejects(loadDataset(q), { code: 'E_SOURCE', message: /no usable images.*file not found/ });
});

test('COVIDx split files: train/test(/val) text files, images in train/ and test/, binary labels with a warning', async () => {
  const d = path.join(tmp, 'covidx');
  for (const f of ['t1.png', 't2.jpg', 'with space.png']) touch(path.join(d, 'train', f));
  touch(path.join(d, 'test', 'x1.png'));
  writeFileSync(path.join(d, 'train.txt'), ['1 t1.png normal rsna', '2 t2.jpg COVID-19 cohen', '3 with space.png pneumonia rsna', '4 t9.png normal rsna', '5 t1.png Lung_Opacity rsna', ''].join('\n'));
  writeFileSync(path.join(d, 'test.txt'), '9 x1.png pneumonia rsna\n');
  const ds = await loadDataset(d);
  assert.equal(ds.kind, 'covidx');
  assert.deepEqual(ds.items.map((i) => [path.basename(i.file), i.label, i.split, i.source, i.patientId]), [
    ['t1.png', 'normal', 'train', 'rsna', '1'],
    ['t2.jpg', 'COVID-19', 'train', 'cohen', '2'],
    ['with space.png', 'pneumonia', 'train', 'rsna', '3'],
    ['x1.png', 'pneumonia', 'test', 'rsna', '9'],
  ]);
  assert.deepEqual(ds.skipped.map((s) => [s.code, s.line]), [['E_FILE_MISSING', 4], ['E_LABEL', 5]]);
  assert.equal(ds.warnings, undefined);

  const b = path.join(tmp, 'covidx-binary');
  touch(path.join(b, 'train', 'a.png'));
  touch(path.join(b, 'train', 'b.png'));
  writeFileSync(path.join(b, 'train.txt'), 'p1 a.png positive bimcv\np2 b.png negative rsna\n');
  const bin = await loadDataset(path.join(b, 'train.txt'));
  assert.deepEqual(bin.items.map((i) => i.label), ['COVID-19', 'normal']);
  assert.match(bin.warnings![0]!, /2-class/);
});

test('folder per class, with or without split folders; patient id = file stem', async () => {
  const d = path.join(tmp, 'folders');
  touch(path.join(d, 'normal', 'n1.png'));
  touch(path.join(d, 'COVID-19', 'c1.jpg'));
  touch(path.join(d, 'pneumonia', 'sub', 'p1.dcm'));
  touch(path.join(d, 'pneumonia', 'notes.txt'));
  touch(path.join(d, 'pneumonia', '.DS_Store'));
  const ds = await loadDataset(d);
  assert.equal(ds.kind, 'folders');
  assert.deepEqual(ds.items.map((i) => [i.label, i.patientId, i.split]).sort(), [['COVID-19', 'c1', undefined], ['normal', 'n1', undefined], ['pneumonia', 'p1', undefined]]);
  const s = path.join(tmp, 'folders-split');
  touch(path.join(s, 'train', 'normal', 'a.png'));
  touch(path.join(s, 'test', 'covid19', 'b.png'));
  const ss = await loadDataset(s);
  assert.deepEqual(ss.items.map((i) => [i.label, i.split]), [['normal', 'train'], ['COVID-19', 'test']]);
});

test('a path that is no data source gets one clear error', async () => {
  mkdirSync(path.join(tmp, 'empty'), { recursive: true });
  await assert.rejects(loadDataset(path.join(tmp, 'empty')), { code: 'E_SOURCE' });
  await assert.rejects(loadDataset(path.join(tmp, 'does-not-exist')), { code: 'E_FILE_MISSING' });
});
