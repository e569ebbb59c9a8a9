/**
 * Experiments end to end on tiny generated data (size 32, width 4): a grid of cells run in
 * parallel child processes, skipped when finished, resumed after a cell is killed mid-epoch, a
 * broken cell recorded while the others go on, cells reused from another experiment, and the
 * analysis with its report. Seconds per test.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readHistory, readSplits } from '../../run/files.js';
import { analyzeExperiment } from './analyze.js';
import { cellDir, readCellRecord } from './cell.js';
import { compareNets, type GridSpec } from './grid.js';
import { listCells, runExperiment } from './runner.js';
import { writeConfoundedData } from './testing.js';

const BIN = fileURLToPath(new URL('../../../bin/covidnet.js', import.meta.url));
let dir = '';
let data = '';
const TINY = { size: 32, width: 4, fc: 8, batch: 8, evalBatch: 16 };
const grid = (over: Partial<GridSpec> = {}): GridSpec => ({ kind: 'compare', data, nets: compareNets(undefined, { single: 2, siamese: 1 }), seeds: [1, 2], splitSeeds: [1], train: TINY, ...over });
const cliArgs = (out: string, ...more: string[]) => ['experiment', 'compare', '--data', data, '--out', out, '--size', '32', '--width', '4', '--fc', '8', '--batch', '8', '--eval-batch', '16', '--threads', '1', '--cache-dir', join(dir, 'cache'), ...more];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'covidnet-exp-'));
  data = await writeConfoundedData(dir);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('a grid runs in parallel processes, finished cells are skipped, the analysis reads them', async () => {
  const out = join(dir, 'compare');
  const r = await runExperiment({ out, grid: grid(), parallel: 2, threads: 2, cacheDir: join(dir, 'cache') });
  assert.deepEqual(r.cells.map((c) => [c.id, c.status]), [['single/seed-1', 'done'], ['siamese/seed-1', 'done'], ['single/seed-2', 'done'], ['siamese/seed-2', 'done']], JSON.stringify(r.cells.map((c) => c.record?.error)));
  const exp = JSON.parse(await readFile(join(out, 'experiment.json'), 'utf8')) as { cells: string[]; data: { hash: string; images: number }; code: { version: string } };
  assert.equal(exp.cells.length, 4);
  assert.equal(exp.data.images, 36);
  assert.match(exp.data.hash, /^[0-9a-f]{64}$/);
  // one split for every cell; training seeds differ
  const splits = await Promise.all(exp.cells.map((id) => readSplits(cellDir(out, id))));
  assert.ok(splits.every((s) => JSON.stringify(s.splits.test) === JSON.stringify(splits[0]!.splits.test)));
  const configs = await Promise.all(exp.cells.map(async (id) => JSON.parse(await readFile(join(cellDir(out, id), 'config.json'), 'utf8')) as { seed: number; splitSeed: number; threads: number }));
  assert.deepEqual(configs.map((c) => [c.seed, c.splitSeed, c.threads]), [[1, 1, 1], [1, 1, 1], [2, 1, 1], [2, 1, 1]]);
  // again: nothing to do
  const again = await runExperiment({ out, grid: grid(), cacheDir: join(dir, 'cache') });
  assert.ok(again.cells.every((c) => c.status === 'skipped'));
  const a = await analyzeExperiment(out);
  assert.deepEqual(a.configs.map((c) => [c.key, c.cells.length]), [['single', 2], ['siamese', 2]]);
  assert.equal(a.comparisons.length, 1);
  assert.ok(Number.isFinite(a.comparisons[0]!.difference.difference));
  assert.deepEqual(a.configs[0]!.by_source.map((s) => s.source).sort(), ['hospital', 'web']);
  // the planted source is measurable: the audit ran in every cell
  assert.ok(a.configs.every((c) => c.audit && Number.isFinite(c.audit.probe_accuracy.mean) && c.audit.probe_sources.length === 2));
  await access(a.report);
  await access(join(out, 'report', 'forest.png'));
  await access(join(out, 'analysis.json'));
  // each cell's evaluation is broken down by source; `covidnet evaluate --by` prints the same
  const ev = JSON.parse(await readFile(join(cellDir(out, 'single/seed-1'), 'eval-test.json'), 'utf8')) as { breakdown: { by: string; groups: { group: string; support: number }[] }; n: number };
  assert.equal(ev.breakdown.by, 'source');
  assert.equal(ev.breakdown.groups.reduce((t, g) => t + g.support, 0), ev.n);
  const byCli = spawnSync(process.execPath, [BIN, 'evaluate', '--run', cellDir(out, 'single/seed-1'), '--data', data, '--by', 'source', '--threads', '1'], { encoding: 'utf8' });
  assert.equal(byCli.status, 0, byCli.stderr);
  assert.match(byCli.stdout, /by source[^\n]*\n\s*source\s+n\s+accuracy/);
  assert.match(byCli.stdout, /\nhospital\s+\d+/);
  const badBy = spawnSync(process.execPath, [BIN, 'evaluate', '--run', cellDir(out, 'single/seed-1'), '--data', data, '--by', 'hospital_name'], { encoding: 'utf8' });
  assert.equal(badBy.status, 1);
  assert.match(badBy.stderr, /E_OPTION.*--by/);
  const audit = spawnSync(process.execPath, [BIN, 'audit', '--run', cellDir(out, 'single/seed-1'), '--data', data, '--threads', '1'], { encoding: 'utf8' });
  assert.equal(audit.status, 0, audit.stderr);
  assert.match(audit.stdout, /source from the embedding \(linear probe, 5-fold by patient/);
  assert.match(audit.stdout, /source-only baseline/);
  // `covidnet report` opens an experiment folder
  const rep = spawnSync(process.execPath, [BIN, 'report', out, '--threads', '1'], { encoding: 'utf8' });
  assert.equal(rep.status, 0, rep.stderr);
  assert.match(rep.stdout, /siamese − single/);
  // another experiment with a matching cell reuses it instead of training
  const sc = await runExperiment({ out: join(dir, 'scarcity'), grid: grid({ kind: 'scarcity', perClass: [3, null], seeds: [1] }), reuse: out, cacheDir: join(dir, 'cache') });
  assert.deepEqual(sc.cells.map((c) => c.status), ['done', 'done', 'done', 'done']);
  const reused = await readCellRecord(cellDir(join(dir, 'scarcity'), 'single/n-all/seed-1'));
  assert.equal(reused?.reusedFrom, cellDir(out, 'single/seed-1'));
  assert.equal((await readCellRecord(cellDir(join(dir, 'scarcity'), 'single/n-3/seed-1')))?.reusedFrom, undefined);
  const small = await readSplits(cellDir(join(dir, 'scarcity'), 'single/n-3/seed-1'));
  assert.equal(small.splits.train.length, 9);
  assert.ok((small.unused?.length ?? 0) > 0);
});

test('a cell killed mid-training resumes from its checkpoint; a broken cell is recorded and the others go on', async () => {
  const out = join(dir, 'killed');
  // a long single-net cell, killed once it has finished two epochs (so the first one's checkpoint is on disk)
  const child = spawn(process.execPath, [BIN, ...cliArgs(out, '--seeds', '1', '--recipes', 'contrastive', '--epochs', '40', '--siamese-epochs', '1', '--no-report')], { stdio: 'ignore' });
  const history = join(cellDir(out, 'single/seed-1'), 'history.jsonl');
  for (let i = 0; i < 600; i++) {
    const n = await readFile(history, 'utf8').then((s) => s.split('\n').filter(Boolean).length, () => 0);
    if (n >= 2) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const before = await readHistory(cellDir(out, 'single/seed-1'));
  const killedAt = before.length;
  assert.ok(killedAt >= 2 && killedAt < 40, `killed after ${killedAt} epochs`);
  const listed = spawnSync(process.execPath, [BIN, ...cliArgs(out, '--seeds', '1', '--epochs', '40', '--siamese-epochs', '1', '--cells')], { encoding: 'utf8' });
  assert.match(listed.stdout, /single\/seed-1\s+running/);
  assert.match(listed.stdout, /siamese\/seed-1\s+not started/);
  // the second seed's siamese cell is broken on purpose: its run folder holds a config that is not JSON
  const broken = cellDir(out, 'siamese/seed-2');
  await mkdir(broken, { recursive: true });
  await writeFile(join(broken, 'config.json'), '{ not json');
  const rerun = spawnSync(process.execPath, [BIN, ...cliArgs(out, '--seeds', '2', '--epochs', '40', '--siamese-epochs', '1', '--no-report')], { encoding: 'utf8' });
  assert.equal(rerun.status, 1, 'a failed cell fails the command');
  assert.match(rerun.stdout, /3 done now, 0 already done, 1 failed/);
  assert.match(rerun.stdout, /failed siamese\/seed-2: E_\w+/);
  const h = await readHistory(cellDir(out, 'single/seed-1'));
  assert.deepEqual(h.map((r) => r.epoch), Array.from({ length: 40 }, (_, i) => i + 1), 'every epoch once');
  // the last epoch before the kill may have been written without its checkpoint: it is redone
  assert.deepEqual(h.slice(0, killedAt - 1), before.slice(0, killedAt - 1), 'resumed, not restarted: the checkpointed epochs are the same records');
  const rec = await readCellRecord(cellDir(out, 'single/seed-1'));
  assert.equal(rec?.status, 'done');
  const failed = await readCellRecord(broken);
  assert.equal(failed?.status, 'failed');
  assert.match(failed!.error!.code, /^E_/);
  const list = await listCells(out, []);
  assert.deepEqual(list, []);
});
