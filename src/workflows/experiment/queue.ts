/**
 * The queue executor: one BullMQ job per unfinished cell on a Redis queue, taken by `covidnet
 * worker` processes on any machine that sees the experiment folder (queue-worker.ts). The
 * coordinator only adds jobs and watches them; results are the cell folders the workers write,
 * and each job's return value is the cell's record. Job ids are fixed per (experiment, cell), so a
 * restarted coordinator finds the jobs it queued before instead of queueing them twice.
 */
import { access } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Queue, type Job } from 'bullmq';
import { CovidNetError } from '../../errors.js';
import { AUDIT_FILE, cellDir, readCellRecord, type CellOutcome, type CellRecord } from './cell.js';
import { cellEpochs, type CellExecutor, type ExecutorContext } from './executor.js';
import type { CellSpec } from './grid.js';
import { CELL_ATTEMPTS, cellJobId, checkQueueName, jobError, parseRedisUrl, scrub, type CellJob, type CellProgress, type RedisTarget } from './queue-job.js';

export * from './queue-job.js';

/** Wait for Redis, or fail with E_QUEUE naming the (masked) URL. */
export async function whenReady(client: { waitUntilReady(): Promise<unknown> }, target: RedisTarget, timeoutMs = Number(process.env.COVIDNET_REDIS_TIMEOUT_MS ?? 15000)): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.waitUntilReady(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs / 1000} s`)), timeoutMs);
      }),
    ]);
  } catch (e) {
    throw new CovidNetError('E_QUEUE', `cannot reach Redis at ${target.masked}: ${scrub(e instanceof Error ? e.message : String(e), target)}`);
  } finally {
    clearTimeout(timer);
  }
}

export interface QueueExecutorOptions {
  redis: string;
  queue?: string | undefined;
  reuse?: string | undefined;
  /** How often the coordinator looks at its jobs (default 1 s). */
  pollMs?: number | undefined;
}

type Watched = { index: number; cell: CellSpec; jobId: string; state: 'queued' | 'running' | 'done' | 'failed'; epoch: number; refused: string | undefined; startedAt: number };

const exists = (f: string) => access(f).then(() => true, () => false);
const QUEUED_STATES = new Set(['waiting', 'delayed', 'prioritized', 'waiting-children']);

export function queueExecutor(opts: QueueExecutorOptions): CellExecutor {
  const target = parseRedisUrl(opts.redis);
  const name = checkQueueName(opts.queue);
  const pollMs = opts.pollMs ?? 1000;
  return {
    name: 'queue',
    async run(ctx: ExecutorContext): Promise<CellOutcome[]> {
      const { emit } = ctx;
      const queue = new Queue(name, { connection: target.connection });
      let lastError = '';
      queue.on('error', (e: Error) => {
        const msg = scrub(e.message, target);
        if (msg !== lastError) emit({ type: 'warning', message: `Redis ${target.masked}: ${msg}` });
        lastError = msg;
      });
      try {
        await whenReady(queue, target);
        // paths as every worker must see them: absolute (the same --out and data path everywhere)
        const payload = (cell: CellSpec): CellJob => ({
          v: 1,
          experiment: ctx.out,
          cell: { ...cell, config: { ...cell.config, data: resolve(cell.config.data) } },
          code: ctx.code,
          dataHash: ctx.dataHash,
          ...(opts.reuse !== undefined ? { reuse: resolve(opts.reuse) } : {}),
        });
        const outcomes: CellOutcome[] = new Array(ctx.cells.length);
        const watched: Watched[] = [];
        for (const [k, { cell }] of ctx.cells.entries()) {
          const dir = cellDir(ctx.out, cell.id);
          const rec = await readCellRecord(dir);
          if (rec?.status === 'done' && (await exists(join(dir, AUDIT_FILE)))) {
            outcomes[k] = { id: cell.id, status: 'skipped', record: rec };
            continue;
          }
          const jobId = cellJobId(ctx.out, cell.id);
          await enqueue(queue, jobId, payload(cell), emit);
          watched.push({ index: k, cell, jobId, state: 'queued', epoch: 0, refused: undefined, startedAt: 0 });
        }
        const t0 = Date.now();
        let finishedHere = 0;
        let shown = '';
        const counts = () => {
          const c = { queued: 0, running: 0, done: ctx.cells.length - watched.length, failed: 0 };
          for (const w of watched) c[w.state]++;
          return c;
        };
        for (;;) {
          for (const w of watched) {
            if (w.state === 'done' || w.state === 'failed') continue;
            const job = (await queue.getJob(w.jobId)) as Job<CellJob, CellRecord> | undefined;
            if (!job) {
              // removed behind our back (e.g. `obliterate`): queue it again unless it finished
              const rec = await readCellRecord(cellDir(ctx.out, w.cell.id));
              if (rec?.status === 'done') finish(w, { id: w.cell.id, status: 'done', record: rec });
              else await enqueue(queue, w.jobId, payload(w.cell), emit);
              continue;
            }
            const state = await job.getState();
            const progress = typeof job.progress === 'object' && job.progress !== null ? (job.progress as unknown as CellProgress) : undefined;
            if (progress?.refused && progress.refused !== w.refused) {
              w.refused = progress.refused;
              emit({ type: 'warning', message: `${w.cell.id}: ${progress.refused}` });
            }
            if (state === 'active' && w.state !== 'running') {
              w.state = 'running';
              w.startedAt = Date.now();
              emit({ type: 'cell-start', id: w.cell.id, index: ctx.cells[w.index]!.index, total: ctx.total, worker: progress?.worker ?? 'a worker' });
            } else if (QUEUED_STATES.has(state)) {
              // back in the queue (its worker died, or refused it)
              w.state = 'queued';
            }
            if (w.state === 'running' && progress?.epoch && progress.epoch.epoch !== w.epoch) {
              w.epoch = progress.epoch.epoch;
              emit({ type: 'epoch', id: w.cell.id, record: progress.epoch, epochs: progress.epochs ?? cellEpochs(w.cell) });
            }
            if (state === 'completed') {
              const rec = job.returnvalue;
              finish(w, rec && typeof rec === 'object' ? { id: w.cell.id, status: 'done', record: rec } : { id: w.cell.id, status: 'done' });
            } else if (state === 'failed') {
              const error = jobError(job.failedReason);
              const record: CellRecord = (await readCellRecord(cellDir(ctx.out, w.cell.id)).then((r) => (r?.status === 'failed' ? r : undefined))) ?? { id: w.cell.id, status: 'failed', spec: w.cell, seconds: 0, finishedAt: new Date().toISOString(), error };
              finish(w, { id: w.cell.id, status: 'failed', record: { ...record, error } });
            }
          }
          const c = counts();
          const remaining = c.queued + c.running;
          const elapsed = (Date.now() - t0) / 1000;
          const etaSeconds = finishedHere > 0 && remaining > 0 ? (elapsed / finishedHere) * remaining : remaining === 0 ? 0 : null;
          const key = `${c.queued}/${c.running}/${c.done}/${c.failed}`;
          if (key !== shown) {
            shown = key;
            emit({ type: 'queue', ...c, total: ctx.cells.length, etaSeconds });
          }
          if (remaining === 0) break;
          await new Promise((r) => setTimeout(r, pollMs));
        }
        return outcomes;

        function finish(w: Watched, outcome: CellOutcome): void {
          w.state = outcome.status === 'failed' ? 'failed' : 'done';
          outcomes[w.index] = outcome;
          finishedHere++;
          const c = counts();
          emit({ type: 'cell-end', id: w.cell.id, outcome, index: ctx.cells[w.index]!.index, total: ctx.cells.length, done: c.done + c.failed, seconds: w.startedAt ? (Date.now() - w.startedAt) / 1000 : 0 });
        }
      } finally {
        // bounded: with Redis gone, close would wait for a reconnect that never comes
        await Promise.race([queue.close(), new Promise((r) => setTimeout(r, 2000))]).catch(() => {});
      }
    },
  };
}

/** Add the cell's job, unless the same job is already queued or running (a restarted coordinator). */
async function enqueue(queue: Queue, jobId: string, data: CellJob, emit: ExecutorContext['emit']): Promise<void> {
  const prev = (await queue.getJob(jobId)) as Job<CellJob> | undefined;
  if (prev) {
    const state = await prev.getState();
    const same = JSON.stringify(prev.data) === JSON.stringify(data);
    if (state === 'active') {
      if (!same) emit({ type: 'warning', message: `${data.cell.id}: a job queued with other settings is running; its worker will refuse or fail it if it does not match the experiment` });
      return;
    }
    if (same && QUEUED_STATES.has(state)) return;
    // finished or failed before (a rerun tries failed cells again), or queued with other settings
    await prev.remove().catch(() => {});
  }
  await queue.add('cell', data, {
    jobId,
    attempts: CELL_ATTEMPTS,
    backoff: { type: 'fixed', delay: 1000 },
    // the coordinator reads the record from the finished job; old ones go after a week
    removeOnComplete: { age: 7 * 24 * 3600 },
    removeOnFail: { age: 7 * 24 * 3600 },
  });
}
