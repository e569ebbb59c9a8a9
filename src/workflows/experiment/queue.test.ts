/**
 * The queue executor end to end on tiny generated data, against a redis-server of its own (a free
 * loopback port, a temp dir, a password): a coordinator and two `covidnet worker` processes, one
 * killed -9 mid-cell; the cell is resumed by the other worker, and the results equal a local run.
 * Workers refuse jobs from other code or data, and fail payloads that are not cell jobs. Without
 * redis-server the Redis tests skip.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { readHistory } from '../../run/files.js';
import { cellDir } from './cell.js';
import { compareNets, expandGrid, type GridSpec } from './grid.js';
import { CellSpecSchema, cellJobId, jobError, maskRedisUrl, parseRedisUrl, type CellJob } from './queue-job.js';
import { arrayTaskIndex, codeVersion, writeExperimentFile } from './runner.js';
import { REDIS_SERVER, startRedis, writeConfoundedData, type TestRedis } from './testing.js';

const BIN = fileURLToPath(new URL('../../../bin/covidnet.js', import.meta.url));
const PASSWORD = 's3cret-pw';
const EPOCHS = 16;
let dir = '';
let data = '';
let redis: TestRedis | undefined;
let url = '';

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'covidnet-queue-'));
  data = await writeConfoundedData(dir);
  if (!REDIS_SERVER) return;
  redis = await startRedis(dir, PASSWORD);
  url = redis.url;
});

after(async () => {
  await redis?.stop();
  await rm(dir, { recursive: true, force: true });
});

const tiny = ['--size', '32', '--width', '4', '--fc', '8', '--batch', '8', '--eval-batch', '16', '--threads', '1'];
const gridArgs = (out: string, ...more: string[]) => ['experiment', 'compare', '--data', data, '--out', out, ...tiny, '--cache-dir', join(dir, 'cache'), '--seeds', '2', '--epochs', String(EPOCHS), '--siamese-epochs', '1', '--json', ...more];

/** A `covidnet worker` process and everything it wrote to stderr. */
function startWorker(queue: string, ...more: string[]) {
  const child = spawn(process.execPath, [BIN, 'worker', '--redis', url, '--queue', queue, '--threads', '1', '--cache-dir', join(dir, 'cache'), '--lock-seconds', '2', ...more], { stdio: ['ignore', 'pipe', 'pipe'] });
  const w = { child, log: '', exited: new Promise<number | null>((r) => child.once('exit', (code) => r(code))) };
  child.stderr!.on('data', (d: Buffer) => (w.log += d.toString()));
  child.stdout!.on('data', (d: Buffer) => (w.log += d.toString()));
  return w;
}

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const until = async (what: string, ok: () => Promise<boolean> | boolean, ms = 60000) => {
  const t0 = Date.now();
  while (!(await ok())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

interface CliResult {
  out: string;
  cells: { id: string; status: string; record?: { error?: { code: string; message: string } } }[];
  analysis: { configs: { key: string; accuracy: unknown; balanced_accuracy: unknown; sensitivity: unknown }[]; comparisons: { difference: unknown }[] };
}

test('Redis URLs: the password is masked in every message, rediss is TLS, a bad URL names no password', () => {
  assert.equal(maskRedisUrl('redis://:pw@host:6380/2'), 'redis://:***@host:6380/2');
  assert.equal(maskRedisUrl('rediss://user:pw@host'), 'rediss://user:***@host');
  const t = parseRedisUrl('rediss://:p%40ss@cache.internal:6380/1');
  assert.deepEqual(t.connection, { host: 'cache.internal', port: 6380, db: 1, password: 'p@ss', tls: { servername: 'cache.internal' }, maxRetriesPerRequest: null });
  assert.equal(t.masked, 'rediss://:***@cache.internal:6380/1');
  assert.throws(() => parseRedisUrl('http://:pw@host'), (e: Error) => /E_OPTION|--redis/.test(`${(e as { code?: string }).code} ${e.message}`) && !e.message.includes('pw@'));
  assert.throws(() => parseRedisUrl('not a url :pw@'), (e: Error) => !e.message.includes('pw'));
  // a password where no URL parser looks for one (found by the queue-job fuzz target) is masked too
  assert.equal(maskRedisUrl('redis:/:pw@'), 'redis:/***@');
  assert.equal(maskRedisUrl('redis://host/a:pw@b'), 'redis://host/***');
  assert.throws(() => parseRedisUrl('redis://%:pw@host'), (e: Error) => /E_OPTION|--redis/.test(e.message) && !e.message.includes('pw'));
  assert.deepEqual(jobError('E_RUN the cell broke'), { code: 'E_RUN', message: 'the cell broke' });
  assert.equal(jobError('job stalled more than allowable limit').code, 'E_QUEUE');
});

test('array jobs: --cell K, or the scheduler index; job payloads are checked against the CellSpec schema', () => {
  assert.equal(arrayTaskIndex('3', {}), 3);
  assert.equal(arrayTaskIndex(true, { SLURM_ARRAY_TASK_ID: '2' }), 2);
  assert.equal(arrayTaskIndex(true, { JOB_COMPLETION_INDEX: '1' }), 1);
  assert.equal(arrayTaskIndex(undefined, { SLURM_ARRAY_TASK_ID: '2' }), undefined);
  assert.throws(() => arrayTaskIndex(true, {}), /E_OPTION|--cell/);
  assert.throws(() => arrayTaskIndex('x', {}), /--cell/);
  const grid: GridSpec = { kind: 'compare', data: '/d/labels.csv', nets: compareNets(undefined, { single: 2, siamese: 1 }), seeds: [1], splitSeeds: [1], train: { size: 32 } };
  const cell = expandGrid(grid)[0]!;
  assert.ok(CellSpecSchema.safeParse(cell).success);
  assert.equal(CellSpecSchema.safeParse({ ...cell, id: '../../etc' }).success, false);
  assert.equal(CellSpecSchema.safeParse({ ...cell, config: { ...cell.config, out: '/tmp/x' } }).success, false);
  assert.equal(CellSpecSchema.safeParse({ ...cell, config: { ...cell.config, size: 'big' } }).success, false);
  assert.equal(CellSpecSchema.safeParse({ ...cell, extra: 1 }).success, false);
  assert.notEqual(cellJobId('/a', 'single/seed-1'), cellJobId('/b', 'single/seed-1'));
});

test('two workers through Redis, one killed -9 mid-cell: every cell finishes once, equal to a local run', { timeout: 240000 }, async (t) => {
  if (!REDIS_SERVER) return t.skip('redis-server not installed (Debian: apt-get install redis-server)');
  const out = join(dir, 'queued');
  const a = startWorker('q1');
  const b = startWorker('q1');
  const coordinator = run(gridArgs(out, '--executor', 'queue', '--redis', url, '--queue', 'q1'));
  // the worker that takes the first single-net cell is killed once two epochs are on disk
  const history = join(cellDir(out, 'single/seed-1'), 'history.jsonl');
  await until('a worker to start single/seed-1', () => /single\/seed-1: started/.test(a.log + b.log));
  const [victim, survivor] = /single\/seed-1: started/.test(a.log) ? [a, b] : [b, a];
  await until('two epochs of single/seed-1', async () => (await readFile(history, 'utf8').then((s) => s.split('\n').filter(Boolean).length, () => 0)) >= 2);
  victim.child.kill('SIGKILL');
  await victim.exited;
  const killedAt = (await readHistory(cellDir(out, 'single/seed-1'))).length;
  assert.ok(killedAt >= 2 && killedAt < EPOCHS, `killed after ${killedAt} epochs`);
  const r = await coordinator;
  assert.equal(r.code, 0, r.stderr + survivor.log);
  const res = JSON.parse(r.stdout) as CliResult;
  assert.deepEqual(res.cells.map((c) => [c.id, c.status]), [['single/seed-1', 'done'], ['siamese/seed-1', 'done'], ['single/seed-2', 'done'], ['siamese/seed-2', 'done']], JSON.stringify(res.cells.map((c) => c.record?.error)));
  // the killed cell was taken over by the other worker and resumed: epochs 1..N, each once
  assert.match(survivor.log, /single\/seed-1: started/);
  const h = await readHistory(cellDir(out, 'single/seed-1'));
  assert.deepEqual(h.map((e) => e.epoch), Array.from({ length: EPOCHS }, (_, i) => i + 1));
  // the same grid here, in one process: the same histories, predictions and statistics
  const local = await run(gridArgs(join(dir, 'local'), '--executor', 'local'));
  assert.equal(local.code, 0, local.stderr);
  const loc = JSON.parse(local.stdout) as CliResult;
  const strip = (x: object) => JSON.parse(JSON.stringify(x, (k, v: unknown) => (k === 'seconds' || k === 'samples_per_second' ? undefined : v))) as unknown;
  for (const c of res.cells) {
    assert.deepEqual(strip(await readHistory(cellDir(out, c.id))), strip(await readHistory(cellDir(join(dir, 'local'), c.id))), `history of ${c.id}`);
    const ev = async (root: string) => (JSON.parse(await readFile(join(cellDir(root, c.id), 'eval-test.json'), 'utf8')) as { predictions: unknown }).predictions;
    assert.deepEqual(await ev(out), await ev(join(dir, 'local')), `predictions of ${c.id}`);
  }
  const stats = (x: CliResult) => ({ configs: x.analysis.configs.map((c) => [c.key, c.accuracy, c.balanced_accuracy, c.sensitivity]), comparisons: x.analysis.comparisons.map((c) => c.difference) });
  assert.deepEqual(stats(res), stats(loc));
  // a restarted coordinator repeats nothing
  const again = await run(gridArgs(out, '--executor', 'queue', '--redis', url, '--queue', 'q1', '--no-report'));
  assert.equal(again.code, 0, again.stderr);
  assert.ok((JSON.parse(again.stdout) as CliResult).cells.every((c) => c.status === 'skipped'));
  // and an array-job task runs one cell; collect gives the statistics of the folder
  const one = await run(gridArgs(join(dir, 'array'), '--cell', '1'));
  assert.equal(one.code, 0, one.stderr);
  assert.deepEqual((JSON.parse(one.stdout) as CliResult).cells.map((c) => [c.id, c.status]), [['siamese/seed-1', 'done']]);
  const listed = spawnSync(process.execPath, [BIN, ...gridArgs(join(dir, 'array')).filter((x) => x !== '--json'), '--cells'], { encoding: 'utf8' });
  assert.match(listed.stdout, /^\s+0\s+single\/seed-1\s+not started\n\s+1\s+siamese\/seed-1\s+done/);
  const partial = await run(['experiment', 'collect', join(dir, 'array'), '--threads', '1']);
  assert.equal(partial.code, 1, 'cells missing: exit 1');
  assert.match(partial.stdout, /1 cells analysed, 3 not finished/);
  const collected = await run(['experiment', 'collect', out, '--threads', '1']);
  assert.equal(collected.code, 0, collected.stderr);
  assert.match(collected.stdout, /compare experiment .*: 4 cells analysed\n/);
  assert.match(collected.stdout, /siamese − single/);
  survivor.child.kill('SIGTERM');
  assert.equal(await survivor.exited, 0, survivor.log);
  for (const text of [r.stdout, r.stderr, again.stderr, a.log, b.log]) assert.ok(!text.includes(PASSWORD), 'the password is never printed');
  assert.match(survivor.log, /redis:\/\/:\*\*\*@127\.0\.0\.1/);
});

test('a cell that fails three times is marked failed with its error; the others finish', { timeout: 120000 }, async (t) => {
  if (!REDIS_SERVER) return t.skip('redis-server not installed (Debian: apt-get install redis-server)');
  const out = join(dir, 'broken');
  // the siamese cell's run folder holds a config that is not JSON: every try fails the same way
  await mkdir(cellDir(out, 'siamese/seed-1'), { recursive: true });
  await writeFile(join(cellDir(out, 'siamese/seed-1'), 'config.json'), '{ not json');
  const w = startWorker('q3');
  const args = ['experiment', 'compare', '--data', data, '--out', out, ...tiny, '--cache-dir', join(dir, 'cache'), '--seeds', '1', '--epochs', '1', '--siamese-epochs', '1', '--json', '--no-report', '--executor', 'queue', '--redis', url, '--queue', 'q3'];
  const r = await run(args);
  assert.equal(r.code, 1, r.stderr + w.log);
  const res = JSON.parse(r.stdout) as CliResult;
  assert.deepEqual(res.cells.map((c) => [c.id, c.status]), [['single/seed-1', 'done'], ['siamese/seed-1', 'failed']]);
  assert.match(res.cells[1]!.record!.error!.code, /^E_/);
  assert.equal((w.log.match(/siamese\/seed-1: failed \(try \d of 3\)/g) ?? []).length, 3, w.log);
  const queue = new Queue('q3', { connection: parseRedisUrl(url).connection });
  try {
    assert.equal((await queue.getJob(cellJobId(out, 'siamese/seed-1')))?.attemptsMade, 3);
  } finally {
    await queue.close();
  }
  w.child.kill('SIGTERM');
  assert.equal(await w.exited, 0, w.log);
});

test('a worker stopped with SIGTERM puts its running cell back (not a try); a restarted coordinator and another worker finish it', { timeout: 120000 }, async (t) => {
  if (!REDIS_SERVER) return t.skip('redis-server not installed (Debian: apt-get install redis-server)');
  const out = join(dir, 'sigterm');
  const args = ['experiment', 'compare', '--data', data, '--out', out, ...tiny, '--cache-dir', join(dir, 'cache'), '--seeds', '1', '--recipes', 'contrastive', '--epochs', String(EPOCHS), '--siamese-epochs', '1', '--json', '--no-report', '--executor', 'queue', '--redis', url, '--queue', 'q5'];
  const first = startWorker('q5');
  const coordinator = spawn(process.execPath, [BIN, ...args], { stdio: 'ignore' });
  const history = join(cellDir(out, 'single/seed-1'), 'history.jsonl');
  await until('two epochs of single/seed-1', async () => (await readFile(history, 'utf8').then((s) => s.split('\n').filter(Boolean).length, () => 0)) >= 2);
  first.child.kill('SIGTERM');
  assert.equal(await first.exited, 0, first.log);
  assert.match(first.log, /stopping; running cells go back to the queue/);
  const queue = new Queue('q5', { connection: parseRedisUrl(url).connection });
  try {
    const job = (await queue.getJob(cellJobId(out, 'single/seed-1')))!;
    assert.equal(await job.getState(), 'waiting');
    assert.equal(job.attemptsMade, 0);
  } finally {
    await queue.close();
  }
  // the coordinator goes too; a new one finds the job still queued and waits for it (nothing lost, nothing queued twice)
  coordinator.kill('SIGKILL');
  await new Promise((r) => coordinator.once('exit', r));
  const second = startWorker('q5');
  const r = await run(args);
  assert.equal(r.code, 0, r.stderr + second.log);
  assert.deepEqual((await readHistory(cellDir(out, 'single/seed-1'))).map((e) => e.epoch), Array.from({ length: EPOCHS }, (_, i) => i + 1));
  assert.equal((second.log.match(/single\/seed-1: started/g) ?? []).length, 1, 'one job for the cell, not two');
  second.child.kill('SIGTERM');
  assert.equal(await second.exited, 0, second.log);
});

test('a run lock left by a worker on another host is taken over by the worker holding the job', { timeout: 120000 }, async (t) => {
  if (!REDIS_SERVER) return t.skip('redis-server not installed (Debian: apt-get install redis-server)');
  const out = join(dir, 'foreign-lock');
  await mkdir(cellDir(out, 'single/seed-1'), { recursive: true });
  await writeFile(join(cellDir(out, 'single/seed-1'), '.lock'), JSON.stringify({ pid: 4242, host: 'node-7.cluster', startedAt: '2026-01-01T00:00:00Z', token: 'x' }) + '\n');
  const w = startWorker('q4');
  const r = await run(['experiment', 'compare', '--data', data, '--out', out, ...tiny, '--cache-dir', join(dir, 'cache'), '--seeds', '1', '--epochs', '1', '--siamese-epochs', '1', '--json', '--no-report', '--executor', 'queue', '--redis', url, '--queue', 'q4']);
  assert.equal(r.code, 0, r.stderr + w.log);
  assert.match(w.log, /single\/seed-1: took over the run lock of pid 4242 on node-7\.cluster/);
  w.child.kill('SIGTERM');
  assert.equal(await w.exited, 0, w.log);
});

test('a worker refuses a job from another code version or data, puts it back and stops; a bad payload fails', { timeout: 60000 }, async (t) => {
  if (!REDIS_SERVER) return t.skip('redis-server not installed (Debian: apt-get install redis-server)');
  const target = parseRedisUrl(url);
  const queue = new Queue('q2', { connection: target.connection });
  try {
    const copy = join(dir, 'labels-copy.csv');
    await writeFile(copy, await readFile(data, 'utf8'));
    const grid: GridSpec = { kind: 'compare', data: copy, nets: compareNets(undefined, { single: 1, siamese: 1 }), seeds: [1], splitSeeds: [1], train: { size: 32, width: 4, fc: 8 } };
    const cells = expandGrid(grid);
    const out = join(dir, 'refused');
    const file = await writeExperimentFile(out, grid, cells);
    const code = await codeVersion();
    const job = (over: Partial<CellJob>): CellJob => ({ v: 1, experiment: out, cell: cells[0]!, code: { version: code.version, commit: code.commit }, dataHash: file.data.hash, ...over });
    const bad = await queue.add('cell', { v: 1, experiment: 'relative/path', cell: { id: '../x' } }, { attempts: 3 });
    const other = await queue.add('cell', job({ code: { version: code.version, commit: 'deadbeef'.repeat(5) } }), { attempts: 3 });
    const w1 = startWorker('q2');
    assert.equal(await w1.exited, 1, w1.log);
    assert.match(w1.log, new RegExp(`E_QUEUE job ${bad.id} is not a covidnet cell job \\(experiment: an absolute path\\); not run`));
    assert.match(w1.log, /covidnet: error \[E_QUEUE\]: refusing cell single\/seed-1: it was queued by covidnet [^ ]+ \(commit deadbeefdeadbeef.*\), this worker runs .*; run workers from the same version\n/);
    assert.equal(await queue.getJobState(bad.id!), 'failed');
    const back = (await queue.getJob(other.id!))!;
    assert.equal(await back.getState(), 'waiting', 'put back for another worker');
    assert.equal(back.attemptsMade, 0, 'a refusal is not a try');
    assert.match(JSON.stringify(back.progress), /refused.*E_QUEUE/);
    await back.remove();
    // the data changed since the experiment was queued (here: one label): its fingerprint differs
    await writeFile(copy, (await readFile(copy, 'utf8')).replace(/,normal,/, ',pneumonia,'));
    await queue.add('cell', job({}), { attempts: 3 });
    const w2 = startWorker('q2');
    assert.equal(await w2.exited, 1, w2.log);
    assert.match(w2.log, /covidnet: error \[E_QUEUE\]: refusing cell single\/seed-1: the data at .*labels-copy\.csv has fingerprint [0-9a-f]{12} here, the experiment's is [0-9a-f]{12}; workers need the same data at the same path\n/);
    for (const text of [w1.log, w2.log]) assert.ok(!text.includes(PASSWORD));
  } finally {
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
  }
});
