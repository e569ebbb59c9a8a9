import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
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

test('links and special files: folder and CSV sources follow links alike and list what they skip', async (t) => {
  const d = path.join(tmp, 'links');
  const outside = touch(path.join(tmp, 'links-outside', 'real.png'));
  touch(path.join(d, 'normal', 'a.png'));
  touch(path.join(d, 'pneumonia', 'b.png'));
  symlinkSync(outside, path.join(d, 'normal', 'linked.png'));
  symlinkSync(path.join(tmp, 'nowhere.png'), path.join(d, 'normal', 'broken.png'));
  symlinkSync(path.dirname(outside), path.join(d, 'pneumonia', 'more'));
  symlinkSync(path.join(d, 'pneumonia'), path.join(d, 'pneumonia', 'loop'));
  const special: string[] = [];
  if (existsSync('/dev/zero')) {
    symlinkSync('/dev/zero', path.join(d, 'normal', 'zero.png'));
    special.push('zero.png');
  }
  try {
    execFileSync('mkfifo', [path.join(d, 'normal', 'fifo.png')], { stdio: 'ignore' });
    special.push('fifo.png');
  } catch {
    t.diagnostic('no mkfifo: FIFO case not run');
  }
  const ds = await loadDataset(d);
  assert.deepEqual(ds.items.map((i) => path.relative(d, i.file)).sort(), ['normal/a.png', 'normal/linked.png', 'pneumonia/b.png', 'pneumonia/more/real.png']);
  const skipped = Object.fromEntries(ds.skipped.map((s) => [path.basename(s.file), s]));
  assert.equal(skipped['broken.png']?.code, 'E_FILE_MISSING');
  assert.match(skipped['broken.png']!.reason, /symbolic link to a missing file/);
  for (const f of special) {
    assert.equal(skipped[f]?.code, 'E_FORMAT_UNKNOWN', f);
    assert.match(skipped[f]!.reason, /not a regular file/);
  }
  assert.equal(ds.skipped.length, 1 + special.length);

  // the same files through a CSV manifest: the same items and the same reasons
  const rows = ['normal/a.png', 'normal/linked.png', 'normal/broken.png', 'pneumonia/b.png', ...special.map((f) => `normal/${f}`)];
  writeFileSync(path.join(d, 'labels.csv'), ['file,label,patient_id', ...rows.map((r, i) => `${r},normal,p${i}`)].join('\n'));
  const csv = await loadDataset(d);
  assert.deepEqual(csv.items.map((i) => path.relative(d, i.file)), ['normal/a.png', 'normal/linked.png', 'pneumonia/b.png']);
  const cs = Object.fromEntries(csv.skipped.map((s) => [path.basename(s.file), s.code]));
  assert.deepEqual(cs, { 'broken.png': 'E_FILE_MISSING', ...Object.fromEntries(special.map((f) => [f, 'E_FORMAT_UNKNOWN'])) });
});

test('COVIDx: a space inside a field (patient id, file name, source, label) is read right', async () => {
  const d = path.join(tmp, 'covidx-spaces');
  for (const f of ['a.png', 'two  spaces.png', 'b.png', 'c.png', 'd.png', 'tab\there.png']) touch(path.join(d, 'train', f));
  writeFileSync(
    path.join(d, 'train.txt'),
    [
      'John Doe a.png normal rsna', // patient id with a space
      'p2 two  spaces.png pneumonia cohen', // file name with two spaces in a row
      'p3 b.png COVID-19 actmed pneumonia', // source with a space (and a label word in it)
      'p4 c.png COVID 19 cohen', // label with a space
      'p5\td.png\tnormal\tsirm', // tabs
      'p6 tab\there.png normal sirm',
    ].join('\n'),
  );
  const ds = await loadDataset(d);
  assert.deepEqual(ds.skipped, []);
  assert.deepEqual(ds.items.map((i) => [i.patientId, path.basename(i.file), i.label, i.source]), [
    ['John Doe', 'a.png', 'normal', 'rsna'],
    ['p2', 'two  spaces.png', 'pneumonia', 'cohen'],
    ['p3', 'b.png', 'COVID-19', 'actmed pneumonia'],
    ['p4', 'c.png', 'COVID-19', 'cohen'],
    ['p5', 'd.png', 'normal', 'sirm'],
    ['p6', 'tab\there.png', 'normal', 'sirm'],
  ]);
});

test('manifest messages never quote whole lines or free text (they are stored in splits.json)', async () => {
  const d = path.join(tmp, 'covidx-hidden');
  touch(path.join(d, 'train', 'a.png'));
  writeFileSync(path.join(d, 'train.txt'), ['root:$6$secrethash:19000:0:99999:7:::', 'list:x:38:38:Mailing List Manager:/var/list:/usr/sbin/nologin', 'p1 a.png normal rsna', 'p2 a.png lung_opacity rsna'].join('\n'));
  const ds = await loadDataset(d);
  const text = ds.skipped.map((s) => s.reason).join('\n');
  assert.doesNotMatch(text, /secret|root|Mailing|nologin/, text);
  assert.match(text, /line 1: expected "patient_id filename label source", got 1 field\b/);
  assert.match(text, /line 2: unknown label \(\d+ characters, not shown\)/);
  // a label-like value is still quoted, so the user sees the typo
  assert.match(text, /line 4: .*unknown label "lung_opacity"/);
  const c = touch(path.join(tmp, 'csv-hidden', 'x.csv'), 'root:$6$secrethash:19000:0:99999:7:::\na,b\n');
  await assert.rejects(loadDataset(c), (e: unknown) => {
    const m = (e as Error).message;
    assert.match(m, /file,label,patient_id \(found: 1 column not shown\)/);
    assert.doesNotMatch(m, /secret|root/);
    return true;
  });
  const q = touch(path.join(tmp, 'csv-quote', 'x.csv'), 'file,label\n"a.png,normal\n');
  await assert.rejects(loadDataset(q), { code: 'E_MANIFEST' });
});

test('CSV manifest: line numbers stay right with mixed line endings (found by fuzzing)', async () => {
  const d = path.join(tmp, 'csv-crlf');
  touch(path.join(d, 'a.png'));
  writeFileSync(path.join(d, 'labels.csv'), 'file,label,patient_id\n\r\n\r\na.png,normal,p1\r\nb.png,flu,p2\rmissing.png,normal,p3\n');
  const ds = await loadDataset(d);
  assert.deepEqual(ds.items.map((i) => path.basename(i.file)), ['a.png']);
  assert.deepEqual(ds.skipped.map((s) => [s.code, s.line]), [['E_LABEL', 5], ['E_FILE_MISSING', 6]]);
});
