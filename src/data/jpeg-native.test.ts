import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { decodeGray8 } from './decode.js';
import { jpegOps, useNativeImageOps } from './native-ops.js';
import { isCovidNetError } from '../errors.js';
import { testPattern } from './testing.js';

const native = jpegOps();
const skip = native ? false : 'the native addon has no libjpeg (install libjpeg-dev, then `make native`): JPEGs go through sharp';

/** decodeGray8 through the native JPEG path and through sharp. */
async function bothPaths(jpg: Buffer): Promise<{ nat: Awaited<ReturnType<typeof decodeGray8>>; ref: Awaited<ReturnType<typeof decodeGray8>> }> {
  useNativeImageOps(false);
  try {
    const ref = await decodeGray8(jpg);
    useNativeImageOps(true);
    return { nat: await decodeGray8(jpg), ref };
  } finally {
    useNativeImageOps(true);
  }
}

function rgbPattern(w: number, h: number, seed: number): Buffer {
  // saturated colour blocks (where Y alone and RGB → gray part ways) over a gray gradient
  const base = testPattern(w, h, seed);
  const out = Buffer.alloc(w * h * 3);
  for (let i = 0; i < w * h; i++) {
    const c = ((i % w) >> 3) % 4;
    out[3 * i] = c === 1 ? 255 : base[i]!;
    out[3 * i + 1] = c === 2 ? 255 : base[i]!;
    out[3 * i + 2] = c === 3 ? 0 : base[i]!;
  }
  return out;
}

test('native JPEG: gray, colour (4:2:0, 4:4:4), progressive and odd sizes give the same pixels as sharp', { skip }, async () => {
  for (const [w, h] of [[37, 23], [480, 479], [1001, 10], [64, 64]] as const) {
    const gray = Buffer.from(testPattern(w, h, w));
    const rgb = rgbPattern(w, h, h);
    const cases: [string, Buffer][] = [
      ['gray', await sharp(gray, { raw: { width: w, height: h, channels: 1 } }).jpeg({ quality: 90 }).toBuffer()],
      ['gray progressive', await sharp(gray, { raw: { width: w, height: h, channels: 1 } }).jpeg({ quality: 75, progressive: true }).toBuffer()],
      ['colour 4:2:0', await sharp(rgb, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 85 }).toBuffer()],
      ['colour 4:4:4', await sharp(rgb, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 95, chromaSubsampling: '4:4:4' }).toBuffer()],
    ];
    for (const [name, jpg] of cases) {
      assert.ok(native!.jpegDecodeGray(jpg, 1e8), `${name} ${w}x${h}: native path taken`);
      const { nat, ref } = await bothPaths(jpg);
      assert.equal(nat.width, ref.width);
      assert.equal(nat.height, ref.height);
      let maxDiff = 0;
      for (let k = 0; k < ref.data.length; k++) maxDiff = Math.max(maxDiff, Math.abs(nat.data[k]! - ref.data[k]!));
      assert.equal(maxDiff, 0, `${name} ${w}x${h}: max difference ${maxDiff}`);
    }
  }
});

test('native JPEG: EXIF rotation, CMYK, truncated and oversized files are left to sharp or refused', { skip }, async () => {
  const w = 48;
  const h = 20;
  const gray = Buffer.from(testPattern(w, h, 3));
  // EXIF orientation 6: sharp rotates, so the result is h×w whichever path is available
  const rotated = await sharp(gray, { raw: { width: w, height: h, channels: 1 } }).jpeg().withMetadata({ orientation: 6 }).toBuffer();
  const r = await bothPaths(rotated);
  assert.deepEqual([r.nat.width, r.nat.height], [h, w]);
  assert.deepEqual(r.nat.data, r.ref.data);
  // CMYK: libjpeg cannot make gray of it; sharp can
  const cmyk = await sharp(rgbPattern(w, h, 1), { raw: { width: w, height: h, channels: 3 } }).toColourspace('cmyk').jpeg().toBuffer();
  assert.equal(native!.jpegDecodeGray(cmyk, 1e8), null);
  assert.equal((await decodeGray8(cmyk)).width, w);
  // truncated: libjpeg only warns (and would fill with gray); we fall back and sharp says what is wrong
  const big = await sharp(rgbPattern(200, 150, 2), { raw: { width: 200, height: 150, channels: 3 } }).jpeg().toBuffer();
  const cut = big.subarray(0, big.length >> 1);
  assert.equal(native!.jpegDecodeGray(cut, 1e8), null);
  await assert.rejects(decodeGray8(cut, { file: 'cut.jpg' }), (e: unknown) => isCovidNetError(e) && e.code === 'E_FILE_TRUNCATED');
  // a header claiming 30000×30000: refused from the header, before any decoding
  const huge = Buffer.from(big);
  let p = 2;
  while (!(huge[p] === 0xff && (huge[p + 1] === 0xc0 || huge[p + 1] === 0xc2))) p += 2 + ((huge[p + 2]! << 8) | huge[p + 3]!);
  huge.writeUInt16BE(30000, p + 5);
  huge.writeUInt16BE(30000, p + 7);
  assert.deepEqual(native!.jpegDecodeGray(huge, 1e8), { width: 30000, height: 30000, tooLarge: true });
  await assert.rejects(decodeGray8(huge, { file: 'huge.jpg' }), (e: unknown) => isCovidNetError(e) && e.code === 'E_TOO_LARGE' && /30000x30000/.test(e.message));
});

test('embedded colour profiles are ignored on both paths (stored values, as OpenCV and PIL read them)', async () => {
  const w = 40;
  const h = 24;
  const rgb = rgbPattern(w, h, 5);
  for (const fmt of ['jpeg', 'png'] as const) {
    const img = sharp(rgb, { raw: { width: w, height: h, channels: 3 } }).withIccProfile('p3');
    const file = await (fmt === 'jpeg' ? img.jpeg({ quality: 100, chromaSubsampling: '4:4:4' }) : img.png()).toBuffer();
    const stored = await sharp(file, { ignoreIcc: true }).raw().toBuffer();
    const managed = await sharp(file).toColourspace('srgb').raw().toBuffer();
    assert.ok(stored.some((v, i) => v !== managed[i]), `${fmt}: the profile changes pixels when applied`);
    const expected = new Uint8Array(w * h);
    for (let i = 0; i < w * h; i++) expected[i] = 0.299 * stored[3 * i]! + 0.587 * stored[3 * i + 1]! + 0.114 * stored[3 * i + 2]! + 0.5;
    const { nat, ref } = await bothPaths(file);
    assert.deepEqual(ref.data, expected, `${fmt}: sharp path`);
    assert.deepEqual(nat.data, expected, `${fmt}: fast path`);
  }
});
