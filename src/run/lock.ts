/**
 * An exclusive lock on a run folder while a training writes it, so two trainings never mix their
 * files in one folder. The lock is `RUN/.lock`, created atomically (O_EXCL) with the owner's pid,
 * host and start time. A lock whose owner is a dead process on this host is stale: it is moved
 * aside (atomically, so only one contender takes it over) and the new owner says so. A lock from
 * another host cannot be checked and is never taken over.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CovidNetError } from '../errors.js';

export const LOCK_FILE = '.lock';

export interface LockOwner {
  pid: number;
  host: string;
  startedAt: string;
  /** Random, so a release never removes a lock another process has taken since. */
  token: string;
}

export interface RunLock {
  readonly file: string;
  /** A stale lock this one replaced (its owner), if any. */
  readonly tookOverFrom: LockOwner | undefined;
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

async function readOwner(file: string): Promise<LockOwner | undefined> {
  try {
    const o = JSON.parse(await readFile(file, 'utf8')) as Partial<LockOwner>;
    return typeof o.pid === 'number' && typeof o.host === 'string' ? (o as LockOwner) : undefined;
  } catch {
    return undefined;
  }
}

/** Take the lock of `run` (creating the folder), or throw E_RUN naming the training that holds it. */
export async function lockRun(run: string): Promise<RunLock> {
  await mkdir(run, { recursive: true });
  const file = join(run, LOCK_FILE);
  const me: LockOwner = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString(), token: randomBytes(8).toString('hex') };
  let tookOverFrom: LockOwner | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(file, 'wx');
      try {
        await fh.writeFile(JSON.stringify(me) + '\n');
        await fh.sync();
      } finally {
        await fh.close();
      }
      return {
        file,
        tookOverFrom,
        release: async () => {
          if ((await readOwner(file))?.token === me.token) await rm(file, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const owner = await readOwner(file);
    // a lock being written this instant reads as empty: give its owner a moment
    if (!owner) {
      await new Promise((r) => setTimeout(r, 200));
      if (!(await readOwner(file))) tookOverFrom = { pid: -1, host: 'unknown', startedAt: 'unknown', token: '' };
      else continue;
    } else if (owner.host !== me.host || alive(owner.pid)) {
      throw new CovidNetError(
        'E_RUN',
        `another training (pid ${owner.pid} on ${owner.host}, since ${owner.startedAt}) is writing this run folder; wait for it or choose another --out (if that process is gone, delete ${file})`,
        { file: run },
      );
    } else {
      tookOverFrom = owner;
    }
    // stale: move it aside; if another contender moved it first, the rename fails and we try again
    await rename(file, `${file}.stale-${me.token}`).then(
      () => rm(`${file}.stale-${me.token}`, { force: true }),
      () => undefined,
    );
  }
  throw new CovidNetError('E_RUN', 'could not take the run folder lock (it kept changing hands)', { file: run });
}
