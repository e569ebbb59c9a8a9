import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeNormStats, toModelInput } from './norm.js';
import type { PreparedSet } from './types.js';
import { augment } from './augment.js';
import { createRng } from '../util/rng.js';

function set(n: number, size: number): PreparedSet {
  const pixels = new Uint8Array(n * size * size);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 31) % 256;
  return { items: Array.from({ length: n }, (_, i) => ({ file: `/${i}.png`, label: 'normal' as const, patientId: String(i), source: 's' })), size, crop: 0, pixels, failed: [] };
}

test('norm stats: global mean and population std of pixel/255', () => {
  const s = set(3, 4);
  const v = Array.from(s.pixels, (x) => x / 255);
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
  const st = computeNormStats(s);
  assert.ok(Math.abs(st.mean - mean) < 1e-12);
  assert.ok(Math.abs(st.std - std) < 1e-12);
});

test('toModelInput: NHWC batch of (u8/255 - mean)/std in index order, reuses out', () => {
  const s = set(3, 4);
  const st = { mean: 0.4, std: 0.2 };
  const b = toModelInput(s, [2, 0], st);
  assert.equal(b.length, 2 * 16);
  for (let k = 0; k < 16; k++) {
    assert.ok(Math.abs(b[k]! - (s.pixels[32 + k]! / 255 - 0.4) / 0.2) < 1e-5);
    assert.ok(Math.abs(b[16 + k]! - (s.pixels[k]! / 255 - 0.4) / 0.2) < 1e-5);
  }
  const out = new Float32Array(64);
  assert.equal(toModelInput(s, [1], st, out), out);
  assert.throws(() => toModelInput(s, [3], st), { code: 'E_OPTION' });
  assert.throws(() => toModelInput(s, [0, 1], st, new Float32Array(8)), { code: 'E_OPTION' });
});

test('augment: identity with zero ranges, seeded and in range otherwise', () => {
  const size = 16;
  const img = Uint8Array.from({ length: size * size }, (_, i) => (i * 13) % 256);
  assert.deepEqual(augment(img, size, createRng(1), { rotation: 0, shift: 0, zoom: 0, brightness: 0 }), img);
  const a = augment(img, size, createRng(1));
  assert.deepEqual(augment(img, size, createRng(1)), a);
  assert.notDeepEqual(a, img);
  assert.throws(() => augment(img, size, createRng(1), { rotation: -1, shift: 0, zoom: 0, brightness: 0 }), { code: 'E_OPTION' });
});
