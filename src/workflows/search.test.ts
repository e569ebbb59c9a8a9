/**
 * The grid search as an experiment of kind `search` on tiny generated data (size 32, width 4):
 * sequential in this process, `--executor local --parallel 2`, and through a queue with one
 * `covidnet worker` give the same validation numbers per cell, and no cell touches the test split
 * (no eval-test.json, no audit.json). Without redis-server the queue test skips.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { access, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSynthDataset } from '../data/index.js';
import { parseRunConfig } from '../config.js';
import { cellName } from '../train/search.js';
import { readCellRecord } from './experiment/cell.js';
import { CellSpecSchema } from './experiment/queue-job.js';
import { expandGrid } from './experiment/grid.js';
import { searchGrid, searchSpec, type SearchResult } from './search.js';
import { REDIS_SERVER, startRedis } from './experiment/testing.js';

const BIN = fileURLToPath(new URL('../../bin/covidnet.js', import.meta.url));
let dir = '';
let data = '';
let sequential: SearchResult | undefined;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'covidnet-search-'));
  data = join(dir, 'data');
  await writeSynthDataset({ out: data, perClass: 8, imageSize: 40, seed: 6, shortcuts: false });
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const exists = (f: string) => access(f).then(() => true, () => false);
const cliArgs = (out: string, ...more: string[]) => ['search', '--model', 'single', '--data', data, '--out', out, '--size', '32', '--width', '4', '--fc', '8', '--epochs', '1', '--lrs', '1e-3,1e-4', '--batches', '8', '--threads', '1', '--cache-dir', join(dir, 'cache'), ...more];
const perCell = (r: Pick<SearchResult, 'cells'>) => r.cells.map((c) => [c.id, c.bestValAccuracy, c.bestEpoch]);

/** Every cell trained only: validation numbers in cell.json, nothing from the test split. */
async function trainedOnly(r: SearchResult) {
  for (const c of r.cells) {
    await stat(join(c.run, 'model', 'model.json'));
    assert.equal(await exists(join(c.run, 'eval-test.json')), false, `${c.id}: no test evaluation`);
    assert.equal(await exists(join(c.run, 'audit.json')), false, `${c.id}: no audit`);
    const rec = await readCellRecord(c.run);
    assert.equal(rec?.status, 'done');
    assert.equal(rec?.test, undefined);
    assert.deepEqual(rec?.validation, { bestValAccuracy: c.bestValAccuracy, bestEpoch: c.bestEpoch, selectedBy: 'accuracy' });
  }
}

/** The `--json` lines of `covidnet search`: one per cell, then the best. */
function parseJsonLines(stdout: string, out: string): SearchResult {
  const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string } & SearchResult['cells'][number] & { best: SearchResult['best'] });
  const cells = lines.filter((l) => l.event === 'cell').sort((a, b) => a.id.localeCompare(b.id));
  const done = lines.find((l) => l.event === 'done');
  assert.ok(done, stdout);
  return { out, model: 'single', epochs: 1, selectedBy: 'accuracy', cells, best: done.best, missing: [] };
}

test('grid search: one training run per cell, best cell = highest validation accuracy, no test data touched', async () => {
  const base = parseRunConfig({ model: 'single', data, out: join(dir, 'search'), size: 32, width: 4, fc: 8, epochs: 1, threads: 1, cacheDir: join(dir, 'cache') });
  const r = await searchGrid({ base, lrs: [1e-3, 1e-4], batches: [8] });
  sequential = r;
  assert.equal(r.cells.length, 2);
  assert.deepEqual(r.cells.map((c) => [c.lr, c.batch, c.id]), [[1e-3, 8, 'lr1e-3-b8'], [1e-4, 8, 'lr1e-4-b8']]);
  assert.equal(r.best.bestValAccuracy, Math.max(...r.cells.map((c) => c.bestValAccuracy)));
  assert.deepEqual(r.missing, []);
  assert.equal(cellName(1e-4, 16), 'lr1e-4-b16');
  assert.equal(r.cells[0]!.run, join(dir, 'search', 'cells', 'lr1e-3-b8'));
  await trainedOnly(r);
  const saved = JSON.parse(await readFile(join(dir, 'search', 'search.json'), 'utf8')) as SearchResult;
  assert.equal(saved.cells.length, 2);
  const exp = JSON.parse(await readFile(join(dir, 'search', 'experiment.json'), 'utf8')) as { kind: string; cells: string[] };
  assert.deepEqual([exp.kind, exp.cells], ['search', ['lr1e-3-b8', 'lr1e-4-b8']]);
  // the cells are valid queue jobs
  for (const c of expandGrid(searchSpec(base, [1e-3, 1e-4], [8]))) assert.ok(CellSpecSchema.safeParse(c).success, JSON.stringify(c));
  // again: every cell is done, nothing is trained
  const again = await searchGrid({ base, lrs: [1e-3, 1e-4], batches: [8] });
  assert.deepEqual(perCell(again), perCell(r));
  // collect prints the validation table; the test analysis refuses a search folder with one line
  const col = spawnSync(process.execPath, [BIN, 'experiment', 'collect', join(dir, 'search')], { encoding: 'utf8' });
  assert.equal(col.status, 0, col.stderr);
  assert.match(col.stdout, /best val acc/);
  assert.match(col.stdout, /\* best: lr /);
  const rep = spawnSync(process.execPath, [BIN, 'report', join(dir, 'search')], { encoding: 'utf8' });
  assert.equal(rep.status, 1);
  assert.match(rep.stderr, /E_RUN\].*validation numbers only/);
});

test('search --executor local --parallel 2 gives the sequential numbers; --cells lists the cells', async () => {
  assert.ok(sequential, 'the sequential search ran');
  const out = join(dir, 'parallel');
  const r = spawnSync(process.execPath, [BIN, ...cliArgs(out, '--executor', 'local', '--parallel', '2', '--json')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const par = parseJsonLines(r.stdout, out);
  assert.deepEqual(perCell(par), perCell(sequential));
  await trainedOnly({ ...par, cells: par.cells.map((c) => ({ ...c, run: join(out, 'cells', c.id) })) });
  const listed = spawnSync(process.execPath, [BIN, ...cliArgs(out, '--cells')], { encoding: 'utf8' });
  assert.equal(listed.status, 0, listed.stderr);
  assert.match(listed.stdout, /^\s+0\s+lr1e-3-b8\s+done\s+best val/m);
  assert.match(listed.stdout, /^\s+1\s+lr1e-4-b8\s+done/m);
  const table = spawnSync(process.execPath, [BIN, ...cliArgs(out)], { encoding: 'utf8' });
  assert.equal(table.status, 0, table.stderr);
  assert.match(table.stdout, /grid search, single, 1 epochs per cell/);
  assert.match(table.stdout, /\*\s+0\.001|\*\s+0\.0001/);
});

test('search --executor queue with one covidnet worker gives the sequential numbers', { skip: REDIS_SERVER ? false : 'no redis-server at /usr/bin or /usr/local/bin' }, async () => {
  assert.ok(sequential, 'the sequential search ran');
  const redis = await startRedis(dir);
  let worker: ChildProcess | undefined;
  try {
    const url = redis.url;
    worker = spawn(process.execPath, [BIN, 'worker', '--redis', url, '--queue', 'search', '--threads', '1', '--cache-dir', join(dir, 'cache')], { stdio: 'ignore' });
    const out = join(dir, 'queued');
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [BIN, ...cliArgs(out, '--executor', 'queue', '--redis', url, '--queue', 'search', '--json')], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('exit', (code) => resolve({ code, stdout, stderr }));
    });
    assert.equal(r.code, 0, r.stderr);
    const q = parseJsonLines(r.stdout, out);
    assert.deepEqual(perCell(q), perCell(sequential));
    await trainedOnly({ ...q, cells: q.cells.map((c) => ({ ...c, run: join(out, 'cells', c.id) })) });
  } finally {
    if (worker && worker.exitCode === null) {
      worker.kill('SIGTERM');
      await new Promise((r) => worker!.once('exit', r));
    }
    await redis.stop();
  }
});
