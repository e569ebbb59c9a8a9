/**
 * What goes through the queue, without the queue: the Redis URL (parsed, with its password masked
 * for every message), the job payload's schema (a cell job is validated before it runs), job ids
 * and failure reasons. No BullMQ here, so the parsers load (and fuzz) on their own.
 */
import { createHash } from 'node:crypto';
import { isAbsolute } from 'node:path';
import type { ConnectionOptions } from 'bullmq';
import { z } from 'zod';
import { RunConfigSchema } from '../../config.js';
import { optionError } from '../../errors.js';
import type { EpochRecord } from '../../run/files.js';
import type { CellSpec } from './grid.js';

export const DEFAULT_QUEUE = 'covidnet';
/** Tries of a cell before it is marked failed (a worker's death mid-cell is not a try: BullMQ counts it as a stall). */
export const CELL_ATTEMPTS = 3;

/** A Redis URL as given, its connection options, and the URL with the password masked (the only form ever printed). */
export interface RedisTarget {
  masked: string;
  connection: ConnectionOptions;
  /** The password, to scrub from any message a library builds. */
  secret: string | undefined;
}

/** `redis://[user][:password@]host[:port][/db]`, `rediss://` for TLS. */
export function parseRedisUrl(raw: string, flag = '--redis'): RedisTarget {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw optionError(flag, 'a URL like redis://host:6379 or rediss://:password@host:6380', maskSecret(raw));
  }
  const masked = maskRedisUrl(raw);
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw optionError(flag, 'a redis:// or rediss:// URL', masked);
  if (!url.hostname) throw optionError(flag, 'a URL with a host', masked);
  const port = url.port ? Number(url.port) : 6379;
  const db = url.pathname && url.pathname !== '/' ? Number(url.pathname.slice(1)) : 0;
  if (!(Number.isInteger(db) && db >= 0 && db <= 10000)) throw optionError(flag, 'a database number after the host (redis://host:6379/0)', masked);
  const decode = (v: string) => {
    try {
      return decodeURIComponent(v);
    } catch {
      throw optionError(flag, 'a user and password in percent-encoding (%40 for @)', masked);
    }
  };
  const password = url.password ? decode(url.password) : undefined;
  const username = url.username ? decode(url.username) : undefined;
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const connection: ConnectionOptions = {
    host,
    port,
    db,
    ...(password !== undefined ? { password } : {}),
    ...(username !== undefined ? { username } : {}),
    ...(url.protocol === 'rediss:' ? { tls: { servername: host } } : {}),
    // BullMQ's blocking commands must wait for Redis rather than fail after a few retries
    maxRetriesPerRequest: null,
  };
  return { masked, connection, secret: password };
}

/** The URL with its password replaced by `***` (and anything odd enough to hide one in). */
export function maskRedisUrl(raw: string): string {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (!url?.host) return maskSecret(raw);
  const auth = url.username || url.password ? `${url.username}${url.password ? ':***' : ''}@` : '';
  const tail = `${url.pathname}${url.search}${url.hash}`;
  // after the host comes a database number; an @ or : there is a password in the wrong place
  const rest = tail === '/' ? '' : /[@:]/.test(tail) ? '/***' : tail;
  return `${url.protocol}//${auth}${url.host}${rest}`;
}

// not a URL with a host: everything up to the last @ may be a password
const maskSecret = (raw: string) => (raw.includes('@') ? raw.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/*)?[^]*@/, (_m, scheme: string | undefined) => `${scheme ?? ''}***@`) : raw);

/** A message with the password cut out (errors from the Redis client name the server, sometimes more). */
export function scrub(message: string, target: RedisTarget): string {
  return target.secret ? message.split(target.secret).join('***') : message;
}

/** Queue names are Redis key parts: plain characters only. */
export function checkQueueName(name: string | undefined, flag = '--queue'): string {
  const q = name ?? DEFAULT_QUEUE;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(q)) throw optionError(flag, 'a queue name of letters, digits, - and _ (at most 64)', q);
  return q;
}

const segment = z.string().regex(/^[A-Za-z0-9_.-]+$/).refine((s) => s !== '.' && s !== '..', 'no . or .. segments');
/** A cell's training config as a job may carry it: no output folder, and nothing a worker decides itself. */
const JobConfigSchema = RunConfigSchema.omit({ out: true, backend: true, threads: true, cacheDir: true, initFrom: true, stopAfter: true }).strict();

export const CellSpecSchema = z
  .object({
    id: z.string().max(300).refine((s) => s.split('/').every((p) => segment.safeParse(p).success), 'a path-like id of plain segments'),
    net: z.string().min(1).max(100),
    seed: z.number().int().min(0).max(2 ** 31 - 1),
    splitSeed: z.number().int().min(0).max(2 ** 31 - 1),
    perClass: z.number().int().positive().nullable(),
    config: JobConfigSchema,
    // search cells: training only (no test evaluation, no audit)
    evaluate: z.literal(false).optional(),
  })
  .strict();

/** What one job carries: the cell, where its experiment lives, and what the worker must match. */
export const CellJobSchema = z
  .object({
    v: z.literal(1),
    experiment: z.string().min(1).max(4096).refine(isAbsolute, 'an absolute path'),
    cell: CellSpecSchema,
    code: z.object({ version: z.string().max(100), commit: z.string().max(100).nullable() }).strict(),
    dataHash: z.string().regex(/^[0-9a-f]{64}$/),
    reuse: z.string().max(4096).optional(),
  })
  .strict();

export type CellJob = Omit<z.output<typeof CellJobSchema>, 'cell'> & { cell: CellSpec };

/** What a worker reports while it runs a cell (`job.progress`). */
export interface CellProgress {
  worker: string;
  epoch?: EpochRecord;
  epochs?: number;
  /** A worker that refused the job says why (and puts it back for another worker). */
  refused?: string;
}

/** Fixed per (experiment folder, cell): BullMQ keeps one job per id. */
export function cellJobId(experiment: string, cellId: string): string {
  return `cell-${createHash('sha256').update(`${experiment}\0${cellId}`).digest('hex').slice(0, 32)}`;
}

/** The error a failed job carries as its reason: `E_CODE message`. */
export function jobError(reason: string | undefined): { code: string; message: string } {
  const m = /^(E_[A-Z_]+) ([\s\S]*)$/.exec(reason ?? '');
  return m ? { code: m[1]!, message: m[2]! } : { code: 'E_QUEUE', message: reason || 'the job failed without a reason' };
}
