/**
 * `covidnet worker`: takes cell jobs from the queue and runs each with `runCell` in a child process
 * (worker.ts), so this process stays free to renew the job's lock while the child trains, and a
 * killed worker takes its training with it. Before running a job the worker checks it: a payload
 * that is not a cell job is failed for good; a job from another covidnet version, for an experiment
 * folder this machine does not see, or for data whose fingerprint differs here is refused: put
 * back for another worker, and this worker stops with a one-line E_QUEUE error (it cannot run any
 * of that experiment's cells, so it should not keep taking them).
 */
import { readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { Worker, UnrecoverableError, WaitingError, type Job } from 'bullmq';
import { CovidNetError, isCovidNetError, optionError } from '../../errors.js';
import { cellEpochs, startCellInChild, type ChildCell } from './executor.js';
import { CellJobSchema, checkQueueName, parseRedisUrl, scrub, type CellJob, type CellProgress } from './queue-job.js';
import { whenReady } from './queue.js';
import { codeVersion, dataFingerprint, readExperimentFile } from './runner.js';
import { cellDir, type CellRecord } from './cell.js';
import { LOCK_FILE } from '../../run/lock.js';

export interface QueueWorkerOptions {
  redis: string;
  queue?: string | undefined;
  /** Cells at once (one child process each); default 1. */
  concurrency?: number | undefined;
  /** Threads per cell. */
  threads?: number | undefined;
  backend?: string | undefined;
  cacheDir?: string | undefined;
  /** Seconds a job's lock lasts without renewal: how soon a dead worker's cell goes to another (default 30). */
  lockSeconds?: number | undefined;
  /** One line per event (job taken, done, failed, refused). */
  log?: (line: string) => void;
}

export interface QueueWorker {
  /** The worker's name in logs and job progress: host:pid. */
  name: string;
  /** Resolves when the worker stops; rejects with the E_QUEUE error of a refused job. */
  finished: Promise<void>;
  /** Stop taking jobs; running cells are stopped and put back in the queue. */
  stop(): Promise<void>;
}

/** Does this machine hold the job's code and data? The E_QUEUE error saying why not, else undefined. */
export async function checkJob(job: CellJob, mine: { version: string; commit: string | null }, fingerprints: Map<string, { mtime: number; hash: string }> = new Map()): Promise<CovidNetError | undefined> {
  const id = job.cell.id;
  if (job.code.version !== mine.version || job.code.commit !== mine.commit) {
    return new CovidNetError('E_QUEUE', `refusing cell ${id}: it was queued by covidnet ${job.code.version} (commit ${job.code.commit ?? 'unknown'}), this worker runs ${mine.version} (commit ${mine.commit ?? 'unknown'}); run workers from the same version`);
  }
  let exp;
  try {
    exp = await readExperimentFile(job.experiment);
  } catch {
    return new CovidNetError('E_QUEUE', `refusing cell ${id}: the experiment folder ${job.experiment} is not readable on this machine; workers need it at the same path (shared storage)`);
  }
  if (exp.data.hash !== job.dataHash || !exp.cells.includes(id)) {
    return new CovidNetError('E_QUEUE', `refusing cell ${id}: ${job.experiment}/experiment.json does not hold this cell with data ${job.dataHash.slice(0, 12)} (it records data ${exp.data.hash.slice(0, 12)}); the experiment was restarted with other settings`);
  }
  const data = job.cell.config.data;
  let hash: string;
  try {
    const mtime = (await stat(data)).mtimeMs;
    const known = fingerprints.get(data);
    hash = known && known.mtime === mtime ? known.hash : (await dataFingerprint(data)).hash;
    fingerprints.set(data, { mtime, hash });
  } catch (e) {
    return new CovidNetError('E_QUEUE', `refusing cell ${id}: cannot load the data ${data} on this machine (${isCovidNetError(e) ? `${e.code} ` : ''}${e instanceof Error ? e.message : String(e)})`);
  }
  if (hash !== job.dataHash) {
    return new CovidNetError('E_QUEUE', `refusing cell ${id}: the data at ${data} has fingerprint ${hash.slice(0, 12)} here, the experiment's is ${job.dataHash.slice(0, 12)}; workers need the same data at the same path`);
  }
  return undefined;
}

/**
 * The run lock a worker on another host left behind. lock.ts takes over a dead process's lock only
 * on its own host (it cannot check a pid elsewhere); here the queue is the evidence: this worker
 * holds the job's lock, so the job's previous holder stopped renewing it (killed, or cut off from
 * Redis) and its cell's child process has exited with it. Moved aside, so the training can lock
 * the folder; a lock of this host is left to lock.ts.
 */
async function takeOverForeignLock(run: string): Promise<{ pid: number; host: string } | undefined> {
  const file = join(run, LOCK_FILE);
  let owner: { pid?: unknown; host?: unknown };
  try {
    owner = JSON.parse(await readFile(file, 'utf8')) as { pid?: unknown; host?: unknown };
  } catch {
    return undefined;
  }
  if (typeof owner.host !== 'string' || typeof owner.pid !== 'number' || owner.host === hostname()) return undefined;
  const aside = `${file}.stale-${process.pid}`;
  await rename(file, aside);
  await rm(aside, { force: true });
  return { pid: owner.pid, host: owner.host };
}

export async function startQueueWorker(opts: QueueWorkerOptions): Promise<QueueWorker> {
  const target = parseRedisUrl(opts.redis);
  const queueName = checkQueueName(opts.queue);
  const concurrency = opts.concurrency ?? 1;
  if (!(Number.isInteger(concurrency) && concurrency >= 1 && concurrency <= 64)) throw optionError('--concurrency', 'an integer from 1 to 64', concurrency);
  const lockSeconds = opts.lockSeconds ?? 30;
  if (!(lockSeconds >= 1 && lockSeconds <= 3600)) throw optionError('--lock-seconds', 'seconds from 1 to 3600', lockSeconds);
  const log = opts.log ?? (() => {});
  const name = `${hostname()}:${process.pid}`;
  // the code this process loaded: a checkout that moves on (git pull, a commit) does not change it
  const code = await codeVersion();
  const fingerprints = new Map<string, { mtime: number; hash: string }>();
  const children = new Set<ChildCell>();
  let refusal: CovidNetError | undefined;
  let stopping = false;

  const process_ = async (job: Job<unknown, CellRecord>, token?: string): Promise<CellRecord> => {
    const parsed = CellJobSchema.safeParse(job.data);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const msg = `E_QUEUE job ${job.id} is not a covidnet cell job (${issue ? `${issue.path.join('.') || 'payload'}: ${issue.message}` : 'invalid'}); not run`;
      log(msg);
      throw new UnrecoverableError(msg);
    }
    const data = parsed.data as CellJob;
    const putBack = async () => {
      await job.moveToWait(token);
      throw new WaitingError();
    };
    if (stopping) return putBack();
    const refused = await checkJob(data, code, fingerprints);
    if (refused) {
      refusal ??= refused;
      log(`E_QUEUE ${refused.message}`);
      await job.updateProgress({ worker: name, refused: `worker ${name}: E_QUEUE ${refused.message}` } satisfies CellProgress).catch(() => {});
      stopping = true;
      setImmediate(() => void stop());
      return putBack();
    }
    const { cell } = data;
    log(`${cell.id}: started (job ${job.id}, try ${job.attemptsMade + 1})`);
    const took = await takeOverForeignLock(cellDir(data.experiment, cell.id));
    if (took) log(`${cell.id}: took over the run lock of pid ${took.pid} on ${took.host} (its worker stopped renewing the job's lock)`);
    await job.updateProgress({ worker: name } satisfies CellProgress).catch(() => {});
    const epochs = cellEpochs(cell);
    const child = startCellInChild(data.experiment, cell, { threads: opts.threads, backend: opts.backend, cacheDir: opts.cacheDir, reuse: data.reuse }, (record) => {
      job.updateProgress({ worker: name, epoch: record, epochs } satisfies CellProgress).catch(() => {});
    });
    children.add(child);
    const outcome = await child.outcome.finally(() => children.delete(child));
    if (stopping && outcome.status !== 'done' && outcome.status !== 'skipped') return putBack();
    if ((outcome.status === 'done' || outcome.status === 'skipped') && outcome.record) {
      log(`${cell.id}: done${outcome.record.test ? `, test balanced accuracy ${outcome.record.test.balanced_accuracy.toFixed(3)}` : ''}`);
      return outcome.record;
    }
    const error = outcome.record?.error ?? { code: 'E_RUN', message: `the cell ${outcome.status === 'stopped' ? 'stopped before its last epoch' : 'did not finish'}` };
    log(`${cell.id}: failed (try ${job.attemptsMade + 1} of ${job.opts.attempts ?? 1}): ${error.code} ${error.message}`);
    throw new Error(`${error.code} ${error.message}`);
  };

  const worker = new Worker<unknown, CellRecord>(queueName, process_, {
    connection: target.connection,
    concurrency,
    name,
    lockDuration: lockSeconds * 1000,
    // a dead worker's job is noticed within one interval after its lock ran out
    stalledInterval: Math.max(1000, Math.min(30000, (lockSeconds * 1000) / 2)),
    // a worker killed twice on the same cell still leaves it a third try
    maxStalledCount: 2,
    autorun: false,
  });
  let lastError = '';
  worker.on('error', (e: Error) => {
    const msg = scrub(e.message, target);
    if (msg !== lastError) log(`Redis ${target.masked}: ${msg}`);
    lastError = msg;
  });
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopping = true;
    stopped ??= (async () => {
      for (const c of children) c.kill();
      await worker.close();
    })();
    return stopped;
  };
  try {
    await whenReady(worker, target);
  } catch (e) {
    // stop the client's reconnecting, or the process never exits
    await Promise.race([worker.close(true), new Promise((r) => setTimeout(r, 2000))]).catch(() => {});
    throw e;
  }
  log(`worker ${name}: taking cells from queue ${queueName} on ${target.masked} (concurrency ${concurrency}, lock ${lockSeconds} s)`);
  const finished = worker.run().then(async () => {
    await stopped;
    if (refusal) throw refusal;
  });
  return { name, finished, stop };
}
