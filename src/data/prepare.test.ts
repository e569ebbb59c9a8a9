import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { prepareImages } from './prepare.js';
import { preprocessFile } from './preprocess-file.js';
import { testPattern } from './testing.js';
import type { DatasetItem } from './types.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'covidnet-prepare-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

async function fixtureItems(): Promise<DatasetItem[]> {
  const items: DatasetItem[] = [];
  const sizes = [[300, 240], [128, 128], [64, 200], [500, 333]] as const;
  for (const [i, [w, h]] of sizes.entries()) {
    const f = path.join(tmp, `img${i}.png`);
    await sharp(testPattern(w, h, i), { raw: { width: w, height: h, channels: 1 } }).png().toFile(f);
    items.push({ file: f, label: 'normal', patientId: String(i), source: 'gen' });
  }
  const bad = path.join(tmp, 'bad.png');
  writeFileSync(bad, 'not an image');
  items.splice(2, 0, { file: bad, label: 'pneumonia', patientId: 'b', source: 'gen' });
  items.push({ file: path.join(tmp, 'missing.png'), label: 'COVID-19', patientId: 'm', source: 'gen' });
  return items;
}

test('prepareImages: workers, bad files to `failed` (never thrown), compacted block, cache hit on the second run', async () => {
  const items = await fixtureItems();
  const cacheDir = path.join(tmp, 'cache');
  const params = { size: 32, crop: 0.05 };
  let last = 0;
  const a = await prepareImages(items, params, { cacheDir, threads: 2, onProgress: (d, t) => { assert.equal(t, items.length); last = d; } });
  assert.equal(last, items.length);
  assert.equal(a.items.length, 4);
  assert.equal(a.pixels.length, 4 * 32 * 32);
  assert.deepEqual(a.failed.map((f) => [path.basename(f.file), f.code]), [['bad.png', 'E_FORMAT_UNKNOWN'], ['missing.png', 'E_FILE_MISSING']]);
  assert.deepEqual(a.stats, { cached: 0, decoded: 4, failed: 2 });
  assert.deepEqual(Array.from(a.originalSizes), [300, 240, 128, 128, 64, 200, 500, 333]);
  // identical to the one-file path, image by image
  for (const [i, it] of a.items.entries()) {
    const one = await preprocessFile(it.file, params);
    assert.deepEqual(a.pixels.subarray(i * 1024, (i + 1) * 1024), one.pixels);
  }
  const b = await prepareImages(items, params, { cacheDir, threads: 2 });
  assert.deepEqual(b.stats, { cached: 4, decoded: 0, failed: 2 });
  assert.deepEqual(b.pixels, a.pixels);
  assert.deepEqual(Array.from(b.originalSizes), Array.from(a.originalSizes));
  // in-process (threads 0) gives the same bytes; other parameters are other cache entries
  const c = await prepareImages(items, params, { cacheDir: false, threads: 0 });
  assert.deepEqual(c.pixels, a.pixels);
  const d = await prepareImages(items, { size: 16, crop: 0 }, { cacheDir, threads: 1 });
  assert.equal(d.stats.decoded, 4);
  // no temporary files left behind
  const walk = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [e.name]));
  assert.ok(walk(cacheDir).every((f) => f.endsWith('.bin') || f.endsWith('.sha1')));
  // a changed file is decoded again (its path/size/mtime key no longer matches), the others are not
  const changed = items[0]!.file;
  await sharp(testPattern(300, 240, 99), { raw: { width: 300, height: 240, channels: 1 } }).png().toFile(changed);
  const e = await prepareImages(items, params, { cacheDir, threads: 2 });
  assert.deepEqual(e.stats, { cached: 3, decoded: 1, failed: 2 });
  assert.deepEqual(e.pixels.subarray(0, 1024), (await preprocessFile(changed, params)).pixels);
  assert.notDeepEqual(e.pixels.subarray(0, 1024), a.pixels.subarray(0, 1024));
});

test('prepareImages validates its options', async () => {
  await assert.rejects(prepareImages([], { size: 4, crop: 0 }), { code: 'E_OPTION' });
  await assert.rejects(prepareImages([], { size: 32, crop: 0.6 }), { code: 'E_OPTION' });
  await assert.rejects(prepareImages([], { size: 32, crop: 0 }, { threads: -1 }), { code: 'E_OPTION' });
  const empty = await prepareImages([], { size: 32, crop: 0 }, { cacheDir: false });
  assert.equal(empty.items.length, 0);
});

test('prepareImages: a FIFO among the items fails alone (workers and in-process), the others are prepared', { timeout: 20_000 }, async (t) => {
  const fifo = path.join(tmp, 'pipe.png');
  try {
    execFileSync('mkfifo', [fifo], { stdio: 'ignore' });
  } catch {
    return t.skip('no mkfifo here');
  }
  const good = path.join(tmp, 'good.png');
  await sharp(testPattern(40, 30, 1), { raw: { width: 40, height: 30, channels: 1 } }).png().toFile(good);
  const items: DatasetItem[] = [
    { file: fifo, label: 'normal', patientId: 'f', source: 'gen' },
    { file: good, label: 'normal', patientId: 'g', source: 'gen' },
  ];
  for (const threads of [1, 0]) {
    const r = await prepareImages(items, { size: 16, crop: 0 }, { cacheDir: path.join(tmp, 'fifo-cache'), threads });
    assert.deepEqual(r.items.map((it) => path.basename(it.file)), ['good.png'], `threads ${threads}`);
    assert.deepEqual(r.failed.map((f) => [path.basename(f.file), f.code]), [['pipe.png', 'E_FORMAT_UNKNOWN']]);
  }
  await assert.rejects(preprocessFile(fifo, { size: 16, crop: 0 }), { code: 'E_FORMAT_UNKNOWN' });
});
