/**
 * Test helpers of the experiment tests (not exported from the package): tiny generated data with a
 * planted source confound, and a throw-away redis-server on a free loopback port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { writeSynthDataset } from '../../data/index.js';

/**
 * 12 phantoms per class (40 px) as a manifest without a split column (the split comes from the
 * split seed) and two sources confounded with the class: COVID-19 and a quarter of normal from
 * `web`, the rest from `hospital`. Returns the manifest's path.
 */
export async function writeConfoundedData(dir: string): Promise<string> {
  const synth = join(dir, 'synth');
  await writeSynthDataset({ out: synth, perClass: 12, imageSize: 40, seed: 2, shortcuts: false });
  const lines = (await readFile(join(synth, 'labels.csv'), 'utf8')).trim().split('\n');
  const rows = lines.slice(1).map((l, i) => {
    const [file, label, patient] = l.split(',');
    const source = label === 'COVID-19' || (label === 'normal' && i % 4 === 0) ? 'web' : 'hospital';
    return [join(synth, file!), label, patient, source].join(',');
  });
  const data = join(dir, 'labels.csv');
  await writeFile(data, ['file,label,patient_id,source', ...rows].join('\n') + '\n');
  return data;
}

export const REDIS_SERVER = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((f) => existsSync(f));

function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface TestRedis {
  process: ChildProcess;
  url: string;
  stop(): Promise<void>;
}

/** Debian's redis-server on a free loopback port, nothing saved, data in `dir`; optional password. */
export async function startRedis(dir: string, password?: string): Promise<TestRedis> {
  if (!REDIS_SERVER) throw new Error('no redis-server');
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', ...(password ? ['--requirepass', password] : [])];
  const redis = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`redis-server did not start: ${log}`)), 10000);
    redis.stdout!.on('data', (d: Buffer) => {
      log += d.toString();
      if (log.includes('Ready to accept connections')) {
        clearTimeout(t);
        resolve();
      }
    });
    redis.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${log}`)));
  });
  return {
    process: redis,
    url: `redis://${password ? `:${password}@` : ''}127.0.0.1:${port}`,
    stop: async () => {
      if (redis.exitCode !== null) return;
      redis.kill('SIGTERM');
      await new Promise((r) => redis.once('exit', r));
    },
  };
}
