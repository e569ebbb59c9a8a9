import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import sharp from 'sharp';
import { cropBox, cropGray8, resizeArea } from './resize.js';
import { testPattern } from './testing.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test/fixtures/inter-area');

interface Case { name: string; width: number; height: number; outWidth: number; outHeight: number; seed: number; inputSum: number; inputFirst: number[] }

const cases = (JSON.parse(readFileSync(path.join(FIXTURES, 'cases.json'), 'utf8')) as { cases: Case[] }).cases;

for (const c of cases) {
  test(`INTER_AREA parity with OpenCV: ${c.name}`, async () => {
    const input = testPattern(c.width, c.height, c.seed);
    // the generated input is the one the Python script resized
    assert.deepEqual(Array.from(input.subarray(0, 8)), c.inputFirst);
    assert.equal(input.reduce((a, b) => a + b, 0), c.inputSum);
    const { data, info } = await sharp(path.join(FIXTURES, `${c.name}.png`)).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
    assert.equal(info.channels, 1);
    const ours = resizeArea(input, c.width, c.height, c.outWidth, c.outHeight);
    assert.equal(ours.length, data.length);
    let maxDiff = 0;
    let same = 0;
    for (let i = 0; i < ours.length; i++) {
      const d = Math.abs(ours[i]! - data[i]!);
      if (d > maxDiff) maxDiff = d;
      if (d === 0) same++;
    }
    assert.ok(maxDiff <= 1, `max difference ${maxDiff} gray levels`);
    // nearly everything is bit-identical; the 1-level slack is for float summation order
    assert.ok(same / ours.length > 0.99, `only ${((100 * same) / ours.length).toFixed(2)}% identical`);
  });
}

test('cropBox removes a fraction from each side, rounded, and validates', () => {
  assert.deepEqual(cropBox(100, 50, 0), { left: 0, top: 0, width: 100, height: 50 });
  assert.deepEqual(cropBox(100, 50, 0.1), { left: 10, top: 5, width: 80, height: 40 });
  assert.deepEqual(cropBox(3, 3, 0.49), { left: 1, top: 1, width: 1, height: 1 });
  assert.throws(() => cropBox(100, 50, 0.5), { code: 'E_OPTION' });
  assert.throws(() => cropBox(100, 50, -0.1), { code: 'E_OPTION' });
  const img = Uint8Array.from({ length: 12 }, (_, i) => i);
  assert.deepEqual(Array.from(cropGray8(img, 4, { left: 1, top: 1, width: 2, height: 1 })), [5, 6]);
});

test('resizeArea validates sizes', () => {
  assert.throws(() => resizeArea(new Uint8Array(4), 2, 2, 0, 1), { code: 'E_OPTION' });
  assert.throws(() => resizeArea(new Uint8Array(3), 2, 2, 1, 1), { code: 'E_OPTION' });
});
