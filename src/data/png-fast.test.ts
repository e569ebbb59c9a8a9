import { test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { decodePngFast } from './png-fast.js';
import { decodeGray8 } from './decode.js';
import { encodePngFiltered, pngChunk, testPattern } from './testing.js';

const hasCrc = typeof (zlib as unknown as { crc32?: unknown }).crc32 === 'function';
const skip = hasCrc ? false : 'zlib.crc32 needs Node ≥ 20.15: the PNG fast path is off here';

/** Gray as decode.ts computes it from sharp's raw output (the reference). */
async function sharpGray(png: Buffer): Promise<Uint8Array> {
  const img = sharp(png);
  const m = await img.metadata();
  const { data, info } = await img.toColourspace((m.channels ?? 3) <= 2 ? 'b-w' : 'srgb').raw().toBuffer({ resolveWithObject: true });
  const out = new Uint8Array(info.width * info.height);
  for (let i = 0, j = 0; i < out.length; i++, j += info.channels) {
    out[i] = info.channels <= 2 ? data[j]! : 0.299 * data[j]! + 0.587 * data[j + 1]! + 0.114 * data[j + 2]! + 0.5;
  }
  return out;
}

function pattern(w: number, h: number, ch: number, seed: number): Uint8Array {
  const base = testPattern(w * ch, h, seed);
  return base;
}

test('PNG fast path: every row filter and colour type gives the same pixels as sharp', { skip }, async () => {
  const W = 37;
  const H = 23;
  for (const ch of [1, 2, 3, 4] as const) {
    const px = pattern(W, H, ch, ch);
    // filters cycle over the rows; row 0 gets each filter in turn across the cases
    for (let first = 0; first < 5; first++) {
      const png = encodePngFiltered(px, W, H, ch, (y) => (y + first) % 5, [], 1 + (first % 3));
      const fast = decodePngFast(png);
      assert.ok(fast, `fast path taken (channels ${ch}, first filter ${first})`);
      assert.equal(fast.width, W);
      assert.equal(fast.height, H);
      assert.deepEqual(fast.data, await sharpGray(png), `channels ${ch}, first filter ${first}`);
      if (ch === 1) assert.deepEqual(fast.data, px);
    }
  }
});

test('PNG fast path: sharp encodings (gray, RGB, RGBA) decode identically', { skip }, async () => {
  const W = 64;
  const H = 48;
  for (const ch of [1, 3, 4] as const) {
    const png = await sharp(Buffer.from(pattern(W, H, ch, 7)), { raw: { width: W, height: H, channels: ch } }).png({ adaptiveFiltering: true }).toBuffer();
    const fast = decodePngFast(png);
    assert.ok(fast, `fast path taken for ${ch} channels`);
    assert.deepEqual(fast.data, await sharpGray(png));
  }
});

test('PNG fast path: anything unusual is left to sharp', { skip }, async () => {
  const W = 16;
  const H = 8;
  const px = pattern(W, H, 1, 3);
  const ok = encodePngFiltered(px, W, H, 1, () => 4);
  assert.ok(decodePngFast(ok));
  // EXIF, palette: sharp handles them
  assert.equal(decodePngFast(encodePngFiltered(px, W, H, 1, () => 0, [pngChunk('eXIf', Buffer.from('MM\0*'))])), undefined);
  assert.equal(decodePngFast(encodePngFiltered(px, W, H, 1, () => 0, [pngChunk('tEXt', Buffer.from('Raw profile type exif\0abc'))])), undefined);
  const pal = await sharp(Buffer.from(pattern(W, H, 3, 2)), { raw: { width: W, height: H, channels: 3 } }).png({ palette: true }).toBuffer();
  assert.equal(decodePngFast(pal), undefined);
  const g16 = await sharp(Buffer.from(px), { raw: { width: W, height: H, channels: 1 } }).toColourspace('grey16').png().toBuffer();
  assert.equal(decodePngFast(g16), undefined);
  const interlaced = await sharp(Buffer.from(px), { raw: { width: W, height: H, channels: 1 } }).png({ progressive: true }).toBuffer();
  assert.equal(decodePngFast(interlaced), undefined);
  // harmless text chunks and colour profiles (ignored by both paths) do not stop it
  assert.ok(decodePngFast(encodePngFiltered(px, W, H, 1, () => 0, [pngChunk('iCCP', Buffer.from('x\0\0'))])));
  assert.ok(decodePngFast(encodePngFiltered(px, W, H, 1, () => 0, [pngChunk('tEXt', Buffer.from('Comment\0hello'))])));
  // damage: bad CRC, truncated, bad filter type
  const bad = Buffer.from(ok);
  bad[bad.length - 20] ^= 0xff;
  assert.equal(decodePngFast(bad), undefined);
  assert.equal(decodePngFast(ok.subarray(0, ok.length - 20)), undefined);
  assert.equal(decodePngFast(encodePngFiltered(px, W, H, 1, (y) => (y === 3 ? 9 : 0))), undefined);
  // and the public decoder still gives the error codes through sharp
  await assert.rejects(decodeGray8(ok.subarray(0, ok.length - 30), { file: 'cut.png' }), (e: { code?: string }) => e.code === 'E_FILE_TRUNCATED' || e.code === 'E_DECODE');
});

test('decodeGray8 uses the same pixels with and without the fast path', async () => {
  const W = 50;
  const H = 30;
  const px = pattern(W, H, 3, 11);
  const png = encodePngFiltered(px, W, H, 3, (y) => y % 5);
  const g = await decodeGray8(png);
  assert.deepEqual(g.data, await sharpGray(png));
});
