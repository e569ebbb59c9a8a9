import { test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { imageOps, useNativeImageOps } from './native-ops.js';
import { resizeArea } from './resize.js';
import { decodePngFast } from './png-fast.js';
import { encodePngFiltered, testPattern } from './testing.js';

const native = imageOps();
const skip = native ? false : 'native image kernels not available (build the addon with `make native`): the TypeScript path is what runs';
const hasCrc = typeof (zlib as unknown as { crc32?: unknown }).crc32 === 'function';

function both<T>(f: () => T): { js: T; nat: T } {
  useNativeImageOps(false);
  const js = f();
  useNativeImageOps(true);
  return { js, nat: f() };
}

test('native INTER_AREA is bit-identical to the TypeScript path', { skip }, () => {
  const cases: [number, number, number, number][] = [[480, 480, 224, 224], [300, 200, 97, 61], [1001, 10, 224, 3], [517, 389, 224, 224], [250, 500, 224, 224], [31, 29, 8, 8]];
  for (const [w, h, ow, oh] of cases) {
    const src = testPattern(w, h, w + h);
    const { js, nat } = both(() => resizeArea(src, w, h, ow, oh));
    assert.deepEqual(nat, js, `${w}x${h} -> ${ow}x${oh}`);
  }
});

test('native PNG unfilter + gray is bit-identical to the TypeScript path', { skip: skip || (hasCrc ? false : 'zlib.crc32 missing') }, () => {
  const W = 41;
  const H = 27;
  for (const ch of [1, 2, 3, 4] as const) {
    const png = encodePngFiltered(testPattern(W * ch, H, ch), W, H, ch, (y) => (y * 3 + ch) % 5);
    const { js, nat } = both(() => decodePngFast(Buffer.from(png)));
    assert.ok(js && nat);
    assert.deepEqual(nat.data, js.data, `${ch} channels`);
  }
  // runs of Paeth rows (the native code does four gray rows at once), with breaks and remainders
  for (const [w, h, filt] of [[53, 19, (): number => 4], [8, 17, (y: number): number => (y === 10 || y === 5 ? 2 : 4)], [1, 9, (): number => 4], [300, 6, (y: number): number => (y < 5 ? 4 : 1)]] as const) {
    const png = encodePngFiltered(testPattern(w, h, w), w, h, 1, filt);
    const { js, nat } = both(() => decodePngFast(Buffer.from(png)));
    assert.ok(js && nat);
    assert.deepEqual(nat.data, js.data, `Paeth runs ${w}x${h}`);
    assert.deepEqual(js.data, testPattern(w, h, w));
  }
  const bad = encodePngFiltered(testPattern(W, H, 1), W, H, 1, (y) => (y === 5 ? 7 : 1));
  assert.equal(decodePngFast(bad), undefined);
});
