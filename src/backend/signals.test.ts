/**
 * Native kernels under a sampling profiler: `node --cpu-prof` delivers SIGPROF about a thousand
 * times a second, and with it landing inside oneDNN's JIT GEMM the process used to die of heap
 * corruption within a second (a 256x512x256 matmul loop, or any training run). The addon now holds
 * the signal back while a kernel runs; this runs that loop in a child process under the profiler.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadAddon } from './native.js';

const load = loadAddon();
const skip = load.ok ? false : `native addon not available (${load.error}); build it with \`make native\``;

test('native kernels survive node --cpu-prof (profiling signals held back during kernels)', { skip }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'covidnet-prof-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const url = (f: string): string => pathToFileURL(join(import.meta.dirname, f)).href;
  const script = `
    const tf = await import(${JSON.stringify(url('../tf.js'))});
    const { initBackend } = await import(${JSON.stringify(url('./index.js'))});
    await initBackend({ backend: 'onednn', purpose: 'train', threads: 1 });
    const x = tf.randomNormal([256, 512]);
    const w = tf.randomNormal([3, 3, 8, 8]);
    const img = tf.randomNormal([4, 32, 32, 8]);
    for (let i = 0; i < 300; i++) tf.tidy(() => {
      tf.matMul(x, tf.transpose(x)).dataSync();
      tf.grads((a, b) => tf.sum(tf.conv2d(a, b, 1, 'same')))([img, w]).forEach((g) => g.dataSync());
    });
    console.log('survived');
  `;
  const r = spawnSync(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `exit ${r.status} ${r.signal ?? ''}: ${r.stderr.trim().split('\n').pop()}`);
  assert.match(r.stdout, /survived/);
});
