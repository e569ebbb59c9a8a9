/** Backend selection and the fallback when the native addon is absent. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../tf.js';
import { isCovidNetError } from '../errors.js';
import { initBackend, resolveThreads } from './index.js';

async function withEnv<T>(vars: Record<string, string | undefined>, f: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return await f();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

const MISSING = { COVIDNET_NATIVE_ADDON: '/nonexistent/covidnet_onednn.node', COVIDNET_BACKEND: undefined };

test('without the addon: cpu for training, with one line saying why and how to get the fast one', async () => {
  const c = await withEnv(MISSING, () => initBackend({ purpose: 'train', threads: 1 }));
  assert.equal(c.name, 'cpu');
  assert.equal(tf.getBackend(), 'cpu');
  assert.equal(c.fast, false);
  assert.equal(c.failures[0]?.name, 'onednn');
  assert.match(c.failures[0]!.error, /not built/);
  assert.match(c.reason, /libdnnl-dev/);
  assert.match(c.reason, /make native/);
  assert.ok(!c.reason.includes('\n'));
});

test('without the addon: wasm for inference, and it computes', async () => {
  const c = await withEnv(MISSING, () => initBackend({ purpose: 'infer', threads: 1 }));
  assert.equal(c.name, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  const y = tf.tidy(() => tf.conv2d(tf.ones([1, 4, 4, 1]) as tf.Tensor4D, tf.ones([3, 3, 1, 2]) as tf.Tensor4D, 1, 'same'));
  assert.deepEqual(Array.from(y.dataSync()).slice(0, 4), [4, 4, 6, 6]);
  y.dispose();
  await tf.setBackend('cpu');
});

test('forcing onednn without the addon is an error naming the package', async () => {
  await assert.rejects(withEnv(MISSING, () => initBackend({ backend: 'onednn', purpose: 'train' })), (e: unknown) => {
    assert.ok(isCovidNetError(e));
    assert.equal(e.code, 'E_NATIVE_UNAVAILABLE');
    assert.match(e.message, /libdnnl-dev/);
    return true;
  });
});

test('COVIDNET_BACKEND forces a backend; unknown names are option errors', async () => {
  const c = await withEnv({ COVIDNET_BACKEND: 'cpu' }, () => initBackend({ purpose: 'train' }));
  assert.equal(c.name, 'cpu');
  assert.match(c.reason, /as requested/);
  await assert.rejects(initBackend({ backend: 'gpu', purpose: 'train' }), (e: unknown) => isCovidNetError(e) && e.code === 'E_OPTION');
});

test('threads: option, then COVIDNET_THREADS, then all cores', async () => {
  assert.equal(resolveThreads(3), 3);
  assert.equal(await withEnv({ COVIDNET_THREADS: '5' }, async () => resolveThreads()), 5);
  assert.ok((await withEnv({ COVIDNET_THREADS: undefined }, async () => resolveThreads())) >= 1);
  assert.throws(() => resolveThreads(0), (e: unknown) => isCovidNetError(e) && e.code === 'E_OPTION');
  await assert.rejects(withEnv({ COVIDNET_THREADS: 'many' }, async () => resolveThreads()));
});

test('threads: one limit, 1 to 256, for the option and COVIDNET_THREADS (the error names the parameter)', async () => {
  assert.equal(resolveThreads(256), 256);
  for (const bad of [257, 100000, 2 ** 31, 1.5, -1, NaN]) {
    assert.throws(() => resolveThreads(bad), (e: unknown) => isCovidNetError(e) && e.code === 'E_OPTION' && /threads/.test(e.message) && /256/.test(e.message), String(bad));
  }
  for (const bad of ['100000', '257', '0', '1.5']) {
    await assert.rejects(withEnv({ COVIDNET_THREADS: bad }, async () => resolveThreads()),
      (e: unknown) => isCovidNetError(e) && e.code === 'E_OPTION' && /COVIDNET_THREADS/.test(e.message), bad);
  }
  await assert.rejects(initBackend({ purpose: 'infer', threads: 100000 }), (e: unknown) => isCovidNetError(e) && e.code === 'E_OPTION');
  assert.ok(resolveThreads() <= 256);
});
