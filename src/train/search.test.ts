import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSynthDataset } from '../data/index.js';
import { parseRunConfig } from '../config.js';
import { searchGrid, cellName } from './search.js';

test('grid search: one run folder per cell, best cell = highest validation accuracy', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'covidnet-search-'));
  try {
    const data = join(dir, 'data');
    await writeSynthDataset({ out: data, perClass: 8, imageSize: 40, seed: 6, shortcuts: false });
    const base = parseRunConfig({ model: 'single', data, out: join(dir, 'search'), size: 32, width: 4, fc: 8, epochs: 1, cacheDir: join(dir, 'cache') });
    const r = await searchGrid({ base, lrs: [1e-3, 1e-4], batches: [8] });
    assert.equal(r.cells.length, 2);
    assert.deepEqual(r.cells.map((c) => [c.lr, c.batch]), [[1e-3, 8], [1e-4, 8]]);
    assert.equal(r.best.bestValAccuracy, Math.max(...r.cells.map((c) => c.bestValAccuracy)));
    for (const c of r.cells) await stat(join(c.run, 'model', 'model.json'));
    assert.equal(cellName(1e-4, 16), 'lr1e-4-b16');
    const saved = JSON.parse(await readFile(join(dir, 'search', 'search.json'), 'utf8'));
    assert.equal(saved.cells.length, 2);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
