import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLASSES } from '../types.js';
import { loadDataset } from './load.js';
import { assertPatientDisjoint, splitDataset } from './split.js';
import { writeSynthDataset } from './synth.js';
import { decodeGray8 } from './decode.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'covidnet-synth-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

test('synth: PNG + labels.csv with patient-disjoint splits, loadable, deterministic for a seed', async () => {
  const a = await writeSynthDataset({ out: path.join(tmp, 'a'), perClass: 12, imageSize: 64, seed: 7, shortcuts: false });
  const ds = await loadDataset(a.out);
  assert.equal(ds.items.length, 36);
  assert.equal(ds.skipped.length, 0);
  for (const c of CLASSES) assert.equal(ds.items.filter((i) => i.label === c).length, 12);
  assert.ok(ds.items.every((i) => i.split !== undefined));
  const s = splitDataset(ds.items, { valFraction: 0.2, testFraction: 0.2, seed: 1 });
  assertPatientDisjoint(s);
  assert.ok(s.test.length > 0 && s.val.length > 0);
  const total = Object.values(a.counts).reduce((n, r) => n + Object.values(r).reduce((x, y) => x + y, 0), 0);
  assert.equal(total, 36);
  const img = await decodeGray8(ds.items[0]!.file);
  assert.deepEqual([img.width, img.height], [64, 64]);
  const b = await writeSynthDataset({ out: path.join(tmp, 'b'), perClass: 12, imageSize: 64, seed: 7, shortcuts: false });
  assert.equal(readFileSync(b.manifest, 'utf8'), readFileSync(a.manifest, 'utf8'));
  for (const it of ds.items.slice(0, 6)) {
    const rel = path.relative(a.out, it.file);
    assert.deepEqual(readFileSync(path.join(b.out, rel)), readFileSync(it.file), rel);
  }
  const c = await writeSynthDataset({ out: path.join(tmp, 'c'), perClass: 12, imageSize: 64, seed: 8, shortcuts: true });
  assert.notDeepEqual(readFileSync(path.join(c.out, 'images/normal/synth-normal-0001-1.png')), readFileSync(path.join(a.out, 'images/normal/synth-normal-0001-1.png')));
});

test('synth: shortcut marks live in the border and are class-correlated', async () => {
  const r = await writeSynthDataset({ out: path.join(tmp, 'marks'), perClass: 30, imageSize: 64, seed: 3, shortcuts: true });
  const ds = await loadDataset(r.out);
  // corner tag: very bright pixels in the top-left 7% corner
  const tagged = async (f: string): Promise<boolean> => {
    const g = await decodeGray8(f);
    for (let y = 0; y < 5; y++) for (let x = 0; x < 5; x++) if (g.data[y * 64 + x]! >= 215) return true;
    return false;
  };
  const rate = async (c: string): Promise<number> => {
    const xs = ds.items.filter((i) => i.label === c);
    let n = 0;
    for (const it of xs) if (await tagged(it.file)) n++;
    return n / xs.length;
  };
  assert.ok((await rate('COVID-19')) > 0.6);
  assert.ok((await rate('normal')) < 0.2);
});

test('synth validates options', async () => {
  await assert.rejects(writeSynthDataset({ out: path.join(tmp, 'x'), perClass: 1, imageSize: 64, seed: 1, shortcuts: false }), { code: 'E_OPTION' });
  await assert.rejects(writeSynthDataset({ out: path.join(tmp, 'x'), perClass: 5, imageSize: 8, seed: 1, shortcuts: false }), { code: 'E_OPTION' });
});
