/**
 * Training and run folders under faults (issue "Reliability under hostile input and faults"):
 * divergence, corrupted and truncated model files, two trainings on one folder, a stale lock,
 * skipped inputs, resuming with another runtime. Tiny phantom runs (size 32, width 4): seconds.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFile, cp, mkdir, mkdtemp, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '../tf.js';
import { writeSynthDataset } from '../data/index.js';
import { parseRunConfig } from '../config.js';
import { createRng } from '../util/rng.js';
import { RunModel } from '../run/run-model.js';
import { readHistory, readSplits } from '../run/files.js';
import { LOCK_FILE } from '../run/lock.js';
import { loadLast } from './checkpoint.js';
import { binaryCrossEntropy, registerRecipe, STUDY_RECIPE } from './recipes.js';
import { train, type TrainEvent } from './train.js';

const BIN = fileURLToPath(new URL('../../bin/covidnet.js', import.meta.url));
let dir = '';
let data = '';
const base = () => ({ data, size: 32, width: 4, fc: 8, batch: 8, evalBatch: 16, cacheDir: join(dir, 'cache'), threads: 1, seed: 5 });

function cli(...args: string[]): { code: number; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, COVIDNET_CACHE: join(dir, 'cache') } });
  return { code: r.status ?? -1, stderr: r.stderr, stdout: r.stdout };
}

function assertOneCodedLine(r: { code: number; stderr: string }, code: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, code);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'stack trace printed');
}

async function trainedSingle(name: string): Promise<string> {
  const out = join(dir, name);
  await train(parseRunConfig({ ...base(), model: 'single', out, epochs: 1 }));
  return out;
}

async function weightFiles(run: string): Promise<string[]> {
  return (await readdir(join(run, 'model'))).filter((f) => f.endsWith('.bin')).map((f) => join(run, 'model', f));
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'covidnet-faults-'));
  data = join(dir, 'data');
  await writeSynthDataset({ out: data, perClass: 9, imageSize: 48, seed: 3, shortcuts: false });
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('training stops at a non-finite loss with E_DIVERGED and keeps the last good checkpoint', async () => {
  let calls = 0;
  // the study recipe whose loss turns NaN from the 5th step on (epoch 2 of 3-step epochs)
  registerRecipe({ ...STUDY_RECIPE, name: 'test-nan-after-4', headLoss: (p, y) => (calls++ >= 4 ? tf.mul(binaryCrossEntropy(p, y), NaN) : binaryCrossEntropy(p, y)) as tf.Scalar });
  const out = join(dir, 'diverged');
  const before = tf.memory().numTensors;
  await assert.rejects(
    train(parseRunConfig({ ...base(), model: 'siamese', recipe: 'test-nan-after-4', out, epochs: 3, pairs: 24, oneShotTrials: 6 })),
    (e: Error & { code?: string }) => e.code === 'E_DIVERGED' && /loss became NaN at epoch 2, step 2/.test(e.message) && /epoch 1 are kept/.test(e.message),
  );
  assert.equal(tf.memory().numTensors, before, 'tensors leaked');
  assert.deepEqual((await readHistory(out)).map((h) => h.epoch), [1]);
  const last = await loadLast(join(out, 'last'));
  assert.equal(last?.state.epoch, 1);
  last?.model.dispose();
  // the best checkpoint still loads and answers
  const rm1 = await RunModel.open(out);
  rm1.dispose();
});

test('a run whose weights hold NaN is refused by RunModel and the CLI with E_MODEL_INVALID', async () => {
  const run = await trainedSingle('nan-weights');
  for (const f of await weightFiles(run)) {
    const n = (await readFile(f)).byteLength / 4;
    await writeFile(f, new Uint8Array(new Float32Array(n).fill(NaN).buffer));
  }
  await assert.rejects(RunModel.open(run), { code: 'E_MODEL_INVALID' });
  const img = join(data, (await readFile(join(data, 'labels.csv'), 'utf8')).split('\n')[1]!.split(',')[0]!);
  assertOneCodedLine(cli('predict', '--run', run, img), /\[E_MODEL_INVALID\]/);
  assertOneCodedLine(cli('evaluate', '--run', run, '--data', data), /\[E_MODEL_INVALID\]/);
});

test('random bytes of the right size in the weights file are refused', async () => {
  const run = await trainedSingle('random-weights');
  const rng = createRng(7);
  for (const f of await weightFiles(run)) {
    const bytes = new Uint8Array((await readFile(f)).byteLength);
    for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(256);
    await writeFile(f, bytes);
  }
  await assert.rejects(RunModel.open(run), { code: 'E_MODEL_INVALID' });
});

test('truncated weights and a truncated resume state give one coded line, no stack trace', async () => {
  const run = await trainedSingle('truncated');
  for (const f of await weightFiles(run)) await truncate(f, 100);
  const img = join(data, (await readFile(join(data, 'labels.csv'), 'utf8')).split('\n')[1]!.split(',')[0]!);
  assertOneCodedLine(cli('predict', '--run', run, img), /\[E_RUN\].*cannot be loaded/);
  const stopped = join(dir, 'truncated-last');
  await train(parseRunConfig({ ...base(), model: 'single', out: stopped, epochs: 2, stopAfter: 1 }));
  const opt = (await readdir(join(stopped, 'last'))).find((f) => f.startsWith('optimizer.'))!;
  await truncate(join(stopped, 'last', opt), 10);
  assertOneCodedLine(cli('train', '--out', stopped, '--resume'), /\[E_RUN\].*resume state is damaged/);
  assertOneCodedLine(cli('predict', '--run', run, '--batch', '0', img), /\[E_OPTION\].*--batch: expected at least 1/);
});

test('two trainings on one --out: the second is refused while the first holds the lock', async () => {
  const out = join(dir, 'shared-out');
  const config = parseRunConfig({ ...base(), model: 'single', out, epochs: 1 });
  const [a, b] = await Promise.allSettled([train(config), train(config)]);
  const outcomes = [a, b].map((r) => r.status);
  assert.deepEqual(outcomes.sort(), ['fulfilled', 'rejected']);
  const err = (a.status === 'rejected' ? a.reason : (b as PromiseRejectedResult).reason) as Error & { code?: string };
  assert.equal(err.code, 'E_RUN');
  assert.match(err.message, /another training \(pid \d+/);
  // released after the run: the folder holds no lock
  assert.ok(!(await readdir(out)).includes(LOCK_FILE));
});

test('a stale lock of a dead process is taken over, with a note', async () => {
  const out = join(dir, 'stale');
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  await writeFile(join(out, LOCK_FILE), JSON.stringify({ pid: Number(dead.stdout), host: hostname(), startedAt: '2026-01-01T00:00:00Z', token: 'x' }));
  const events: TrainEvent[] = [];
  await train(parseRunConfig({ ...base(), model: 'single', out, epochs: 1 }), { onEvent: (e) => events.push(e) });
  const ready = events.find((e) => e.type === 'ready');
  assert.ok(ready && ready.type === 'ready' && ready.notes.some((n) => /took over the lock .*pid \d+/.test(n)), JSON.stringify(ready && 'notes' in ready ? ready.notes : ready));
});

test('training names what it skipped and keeps unreadable files out of every count', async () => {
  const copy = join(dir, 'skips');
  await cp(data, copy, { recursive: true });
  const csv = join(copy, 'labels.csv');
  const lines = (await readFile(csv, 'utf8')).trim().split('\n');
  const testRow = lines.find((l) => l.endsWith(',test'))!;
  await writeFile(join(copy, testRow.split(',')[0]!), 'not a png');
  const missing = Array.from({ length: 50 }, (_, i) => `images/normal/missing-${i}.png,normal,missing-${i},synth,train`);
  await appendFile(csv, '\n' + missing.join('\n') + '\n');
  const out = join(dir, 'skips-run');
  const events: TrainEvent[] = [];
  await train(parseRunConfig({ ...base(), data: copy, model: 'single', out, epochs: 1 }), { onEvent: (e) => events.push(e) });
  const ready = events.find((e) => e.type === 'ready');
  assert.ok(ready && ready.type === 'ready');
  assert.equal(ready.skipped.sourceEntries, 50);
  assert.equal(ready.skipped.unreadable, 1);
  assert.equal(ready.skipped.examples.length, 3);
  const tests = lines.filter((l) => l.endsWith(',test')).length;
  assert.equal(ready.counts.test, tests - 1, 'an unreadable test image was counted');
  const splits = await readSplits(out);
  assert.equal(splits.failed.length, 1);
  assert.equal(splits.skipped?.length, 50);
  assert.ok(!splits.splits.test.some((e) => e.file === testRow.split(',')[0]));
  // and the CLI prints one summary line, not one line per entry
  const r = cli('train', '--model', 'single', '--data', copy, '--out', join(dir, 'skips-cli'), '--size', '32', '--width', '4', '--fc', '8', '--epochs', '1', '--threads', '1');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /skipped: 50 source entries and 1 unreadable images \(.*\); the full list is in .*splits\.json/);
  assert.ok(r.stderr.split('\n').length < 12, r.stderr);
});

test('resume uses the run\'s recorded thread count unless told otherwise, and says so', async () => {
  const out = join(dir, 'runtime');
  await train(parseRunConfig({ ...base(), model: 'single', out, epochs: 2, stopAfter: 1 }));
  const events: TrainEvent[] = [];
  // a resume that names no runtime: the library's `given` is what the user set
  const r = await train(parseRunConfig({ ...base(), threads: undefined, model: 'single', out, epochs: 2 }), { resume: true, onEvent: (e) => events.push(e) }, { epochs: 2 });
  assert.equal(r.epochsDone, 2);
  const ready = events.find((e) => e.type === 'ready');
  assert.ok(ready && ready.type === 'ready' && ready.notes.some((n) => /recorded runtime: backend \w+, 1 threads/.test(n)), JSON.stringify(ready));
  const saved = JSON.parse(await readFile(join(out, 'config.json'), 'utf8')) as { threadsUsed: number };
  assert.equal(saved.threadsUsed, 1);
});

test('--resume on a folder that holds no run is refused; options another model ignores are named', async () => {
  await assert.rejects(train(parseRunConfig({ ...base(), model: 'single', out: join(dir, 'empty'), epochs: 1 }), { resume: true }), { code: 'E_RUN', message: /nothing to resume/ });
  const events: TrainEvent[] = [];
  const config = parseRunConfig({ ...base(), model: 'single', out: join(dir, 'ignored'), epochs: 1, pairs: 500 });
  await train(config, { onEvent: (e) => events.push(e) }, { pairs: 500 });
  const ready = events.find((e) => e.type === 'ready');
  assert.ok(ready && ready.type === 'ready' && ready.notes.includes('--pairs does nothing for the single net (ignored)'), JSON.stringify(ready));
});
