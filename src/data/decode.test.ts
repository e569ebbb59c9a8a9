import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { decodeGray8, decodeImage, readImageHeader, readInputSync, sniffFormat } from './decode.js';
import { MAX_FILE_BYTES } from './limits.js';
import { makeDicom, pngHeaderOnly } from './testing.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'covidnet-decode-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));
function file(name: string, data: Uint8Array | string): string {
  const p = path.join(tmp, name);
  writeFileSync(p, data);
  return p;
}

const W = 16;
const H = 12;
/** Colour test image: every pixel a different colour. */
function rgbRaw(channels: 3 | 4): Buffer {
  const b = Buffer.alloc(W * H * channels);
  for (let i = 0; i < W * H; i++) {
    b[i * channels] = (i * 37) % 256;
    b[i * channels + 1] = (i * 91 + 11) % 256;
    b[i * channels + 2] = (i * 53 + 200) % 256;
    if (channels === 4) b[i * channels + 3] = (i * 17) % 256;
  }
  return b;
}
const expectedGray = (rgb: Buffer, ch: number): number[] =>
  Array.from({ length: W * H }, (_, i) => Math.round(0.299 * rgb[i * ch]! + 0.587 * rgb[i * ch + 1]! + 0.114 * rgb[i * ch + 2]!));

test('8-bit gray PNG decodes unchanged, values in [0, 1]', async () => {
  const raw = Buffer.from(Array.from({ length: W * H }, (_, i) => (i * 7) % 256));
  const png = await sharp(raw, { raw: { width: W, height: H, channels: 1 } }).png().toBuffer();
  assert.equal(sniffFormat(png), 'png');
  const g = await decodeImage(file('gray.png', png));
  assert.equal(g.width, W);
  assert.equal(g.height, H);
  assert.ok(g.data instanceof Float32Array);
  assert.deepEqual(Array.from(g.data, (v) => Math.round(v * 255)), Array.from(raw));
});

test('RGB and RGBA PNG: gray = 0.299 R + 0.587 G + 0.114 B, alpha dropped', async () => {
  for (const ch of [3, 4] as const) {
    const raw = rgbRaw(ch);
    const png = await sharp(raw, { raw: { width: W, height: H, channels: ch } }).png().toBuffer();
    const g = await decodeGray8(file(`rgb${ch}.png`, png));
    assert.deepEqual(Array.from(g.data), expectedGray(raw, ch), `${ch} channels`);
  }
});

test('palette PNG and gray+alpha PNG decode to gray', async () => {
  const raw = rgbRaw(3);
  const pal = await sharp(raw, { raw: { width: W, height: H, channels: 3 } }).png({ palette: true, colours: 256, dither: 0 }).toBuffer();
  assert.equal((await sharp(pal).metadata()).isPalette, true);
  // the palette may have moved colours: compare with the file's own RGB
  const { data } = await sharp(pal).toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  const g = await decodeGray8(file('pal.png', pal));
  const ch = data.length / (W * H);
  assert.deepEqual(Array.from(g.data), expectedGray(data, ch));
  const ga = Buffer.alloc(W * H * 2);
  for (let i = 0; i < W * H; i++) {
    ga[2 * i] = i % 256;
    ga[2 * i + 1] = 255 - (i % 256);
  }
  const gaPng = await sharp(ga, { raw: { width: W, height: H, channels: 2 } }).png().toBuffer();
  const g2 = await decodeGray8(file('ga.png', gaPng));
  assert.deepEqual(Array.from(g2.data), Array.from({ length: W * H }, (_, i) => i % 256));
});

test('16-bit PNG is read at 16 bits', async () => {
  const v = new Uint16Array(W * H);
  for (let i = 0; i < v.length; i++) v[i] = i * 300 + 7;
  const png = await sharp(v, { raw: { width: W, height: H, channels: 1 } }).toColourspace('grey16').png().toBuffer();
  const meta = await sharp(png).metadata();
  assert.equal(meta.depth, 'ushort');
  const g = await decodeImage(file('g16.png', png));
  for (let i = 0; i < v.length; i++) assert.ok(Math.abs(g.data[i]! - v[i]! / 65535) < 1e-6, `pixel ${i}`);
});

test('JPEG (gray and colour) decodes; EXIF orientation is applied', async () => {
  const raw = Buffer.from(Array.from({ length: 64 * 32 }, (_, i) => 60 + ((i % 64) * 2)));
  const jpg = await sharp(raw, { raw: { width: 64, height: 32, channels: 1 } }).jpeg({ quality: 95 }).toBuffer();
  assert.equal(sniffFormat(jpg), 'jpeg');
  const g = await decodeGray8(file('g.jpg', jpg));
  assert.equal(g.width, 64);
  let maxErr = 0;
  for (let i = 0; i < raw.length; i++) maxErr = Math.max(maxErr, Math.abs(g.data[i]! - raw[i]!));
  assert.ok(maxErr <= 6, `JPEG error ${maxErr}`);
  // orientation 6: stored 64x32, shown rotated 90° clockwise → 32x64
  const rotated = await sharp(raw, { raw: { width: 64, height: 32, channels: 1 } }).jpeg().withMetadata({ orientation: 6 }).toBuffer();
  const r = await decodeGray8(file('rot.jpg', rotated));
  assert.deepEqual([r.width, r.height], [32, 64]);
  assert.deepEqual(await readImageHeader(file('rot2.jpg', rotated)), { format: 'jpeg', width: 32, height: 64 });
  // first row of the rotated image is the first column of the stored one, bottom to top
  assert.ok(Math.abs(r.data[0]! - raw[31 * 64]!) <= 6);
});

test('a .jpg that is really a PNG is read by content', async () => {
  const png = await sharp(Buffer.alloc(W * H, 128), { raw: { width: W, height: H, channels: 1 } }).png().toBuffer();
  const g = await decodeGray8(file('fake.jpg', png));
  assert.equal(g.data[0], 128);
});

test('DICOM: 8-bit uncompressed MONOCHROME2 maps v/255', async () => {
  const values = Array.from({ length: W * H }, (_, i) => i % 256);
  const g = await decodeGray8(file('a.dcm', makeDicom({ width: W, height: H, values })));
  assert.deepEqual(Array.from(g.data), values);
});

test('DICOM: 16-bit signed, BitsStored 12, rescale, min/max window, MONOCHROME1 inverted', async () => {
  // 12 stored bits, signed: -2048..2047; junk in the top 4 bits must be masked off
  const stored = Array.from({ length: W * H }, (_, i) => -2048 + i * 21);
  const values = stored.map((v) => ((v & 0xfff) | 0xa000) >>> 0);
  const d = makeDicom({ width: W, height: H, bitsAllocated: 16, bitsStored: 12, signed: true, slope: 2, intercept: -100, values });
  const g = await decodeImage(file('b.dcm', d));
  const lo = Math.min(...stored);
  const hi = Math.max(...stored);
  for (let i = 0; i < stored.length; i++) assert.ok(Math.abs(g.data[i]! - (stored[i]! - lo) / (hi - lo)) < 1e-5, `pixel ${i}`);
  const m1 = await decodeImage(file('c.dcm', makeDicom({ width: W, height: H, bitsAllocated: 16, bitsStored: 12, signed: true, photometric: 'MONOCHROME1', values })));
  for (let i = 0; i < stored.length; i++) assert.ok(Math.abs(m1.data[i]! - (1 - (stored[i]! - lo) / (hi - lo))) < 1e-5);
});

test('DICOM: VOI window (center/width) is used when present', async () => {
  const values = Array.from({ length: W * H }, (_, i) => i * 20);
  const g = await decodeImage(file('w.dcm', makeDicom({ width: W, height: H, bitsAllocated: 16, bitsStored: 16, values, window: { center: 1000, width: 1001 } })));
  // DICOM linear VOI: (x - (c - 0.5)) / (w - 1) + 0.5, clipped
  for (let i = 0; i < values.length; i++) {
    const e = Math.min(1, Math.max(0, (values[i]! - 999.5) / 1000 + 0.5));
    assert.ok(Math.abs(g.data[i]! - e) < 1e-5, `pixel ${i}: ${g.data[i]} vs ${e}`);
  }
});

test('DICOM: JPEG-baseline encapsulated pixel data (MONOCHROME1 inverted)', async () => {
  const raw = Buffer.from(Array.from({ length: 32 * 16 }, (_, i) => 40 + (i % 32) * 5));
  const jpeg = await sharp(raw, { raw: { width: 32, height: 16, channels: 1 } }).jpeg({ quality: 100 }).toBuffer();
  const g2 = await decodeGray8(file('j2.dcm', makeDicom({ width: 32, height: 16, jpeg })));
  const g1 = await decodeGray8(file('j1.dcm', makeDicom({ width: 32, height: 16, jpeg, photometric: 'MONOCHROME1' })));
  for (let i = 0; i < raw.length; i++) {
    assert.ok(Math.abs(g2.data[i]! - raw[i]!) <= 3, `pixel ${i}`);
    assert.ok(Math.abs(g1.data[i]! - (255 - g2.data[i]!)) <= 1);
  }
  assert.deepEqual(await readImageHeader(file('j3.dcm', makeDicom({ width: 32, height: 16, jpeg }))), { format: 'dicom', width: 32, height: 16 });
});

// ------------------------------------------------------------------ bad input: one clear line each

async function rejects(p: string, code: string, re?: RegExp): Promise<void> {
  await assert.rejects(decodeImage(p), (e: Error & { code?: string }) => {
    assert.equal(e.code, code, `${e.code}: ${e.message}`);
    assert.ok(e.message.includes(p), 'names the file');
    assert.ok(!e.message.includes('\n'), 'one line');
    if (re) assert.match(e.message, re);
    return true;
  });
}

const noise = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7919 + ((i * i) >> 3)) % 256));

test('bad input: zero-byte file', async () => rejects(file('empty.png', ''), 'E_FILE_EMPTY'));
test('bad input: missing file', async () => rejects(path.join(tmp, 'nope.png'), 'E_FILE_MISSING'));
test('bad input: text named .png', async () => rejects(file('text.png', 'hello, this is not an image\n'), 'E_FORMAT_UNKNOWN', /not a PNG, JPEG or DICOM/));

test('bad input: truncated PNG and JPEG', async () => {
  const png = await sharp(noise(200 * 150), { raw: { width: 200, height: 150, channels: 1 } }).png().toBuffer();
  await rejects(file('trunc.png', png.subarray(0, Math.floor(png.length / 2))), 'E_FILE_TRUNCATED');
  const jpg = await sharp(noise(200 * 150 * 3), { raw: { width: 200, height: 150, channels: 3 } }).jpeg().toBuffer();
  await rejects(file('trunc.jpg', jpg.subarray(0, Math.floor(jpg.length / 2))), 'E_FILE_TRUNCATED');
});

test('bad input: corrupt PNG, JPEG and DICOM', async () => {
  const png = await sharp(noise(64 * 64), { raw: { width: 64, height: 64, channels: 1 } }).png().toBuffer();
  const bad = Buffer.from(png);
  // scramble the compressed data inside IDAT (after the 33-byte signature + IHDR)
  for (let i = 41; i < bad.length - 20; i++) bad[i] = bad[i]! ^ 0x5a;
  await rejects(file('corrupt.png', bad), 'E_DECODE');
  await rejects(file('corrupt.jpg', Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), noise(500)])), 'E_DECODE');
  await rejects(file('corrupt.dcm', Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), noise(300)])), 'E_DECODE');
  const dcm = makeDicom({ width: 64, height: 64, bitsAllocated: 16, values: new Uint16Array(64 * 64) });
  await rejects(file('trunc.dcm', dcm.subarray(0, dcm.length - 1000)), 'E_FILE_TRUNCATED');
});

test('bad input: images over 100 megapixels are refused from the header', async () => {
  await rejects(file('bomb.png', pngHeaderOnly(20000, 20000)), 'E_TOO_LARGE', /megapixel/);
  await assert.rejects(readImageHeader(file('bomb2.png', pngHeaderOnly(20000, 20000))), { code: 'E_TOO_LARGE' });
  // DICOM header of 65535 x 65535 with almost no pixel data
  const d = makeDicom({ width: 4, height: 4 });
  const big = Buffer.from(d);
  // patch Rows/Columns (US values) in place
  const rowsAt = big.indexOf(Buffer.from([0x28, 0x00, 0x10, 0x00, 0x55, 0x53]));
  big.writeUInt16LE(65535, rowsAt + 8);
  big.writeUInt16LE(65535, rowsAt + 8 + 10);
  await rejects(file('bomb.dcm', big), 'E_TOO_LARGE');
});

test('DICOM: explicit big endian and deflated little endian transfer syntaxes', async () => {
  const values = Array.from({ length: W * H }, (_, i) => i * 300);
  const le = await decodeImage(file('le.dcm', makeDicom({ width: W, height: H, bitsAllocated: 16, values })));
  const be = await decodeImage(file('be.dcm', makeDicom({ width: W, height: H, bitsAllocated: 16, values, bigEndian: true })));
  const df = await decodeImage(file('df.dcm', makeDicom({ width: W, height: H, bitsAllocated: 16, values, deflate: true })));
  assert.deepEqual(Array.from(be.data), Array.from(le.data));
  assert.deepEqual(Array.from(df.data), Array.from(le.data));
  assert.ok(Math.abs(le.data[1]! - 300 / ((W * H - 1) * 300)) < 1e-6);
});

/** mkfifo(1), or undefined where there is none (Windows). */
function mkfifo(p: string): boolean {
  try {
    execFileSync('mkfifo', [p], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('special files: a FIFO named x.png is refused at once (no hang) and the healthy file beside it decodes', { timeout: 10_000 }, async (t) => {
  const fifo = path.join(tmp, 'x.png');
  if (!mkfifo(fifo)) return t.skip('no mkfifo here');
  const good = file('healthy.png', await sharp(noise(32 * 24), { raw: { width: 32, height: 24, channels: 1 } }).png().toBuffer());
  await rejects(fifo, 'E_FORMAT_UNKNOWN', /FIFO.*not a regular file/);
  await assert.rejects(readImageHeader(fifo), { code: 'E_FORMAT_UNKNOWN' });
  assert.throws(() => readInputSync(fifo), { code: 'E_FORMAT_UNKNOWN' });
  assert.equal((await decodeGray8(good)).width, 32);
});

test('special files: a link to /dev/zero is refused before reading, not read until memory runs out', { timeout: 10_000 }, async (t) => {
  if (!existsSync('/dev/zero')) return t.skip('no /dev/zero here');
  const link = path.join(tmp, 'zero.png');
  symlinkSync('/dev/zero', link);
  await rejects(link, 'E_FORMAT_UNKNOWN', /character device/);
  assert.throws(() => readInputSync(link), { code: 'E_FORMAT_UNKNOWN' });
});

test('special files: a regular file over the size limit is refused from its size, before reading', { timeout: 10_000 }, async () => {
  // sparse: no disk space, and reading it would take seconds and half a gigabyte
  const big = path.join(tmp, 'huge.png');
  writeFileSync(big, pngHeaderOnly(10, 10));
  truncateSync(big, MAX_FILE_BYTES + 1);
  await rejects(big, 'E_TOO_LARGE', /byte limit/);
  assert.throws(() => readInputSync(big), { code: 'E_TOO_LARGE' });
});

test('unknown files: the error says what the file looks like and never quotes its content', async () => {
  const secret = 'root:$6$Zq1secret$hash:19000:0:99999:7:::\n';
  for (const [name, data, kind] of [
    ['shadow.png', secret, /text file/],
    ['page.jpg', '<!DOCTYPE html><title>secret</title>', /HTML page/],
    ['anim.png', Buffer.from('GIF89a secret-bytes'), /GIF image/],
    ['blob.dcm', Buffer.from([0x00, 0x01, 0x02, 0x73, 0x65, 0x63, 0x72, 0x65, 0x74, 0x07]), /binary content/],
  ] as const) {
    const f = file(name, data);
    for (const read of [() => decodeGray8(f), () => readImageHeader(f)]) {
      await assert.rejects(read(), (e: unknown) => {
        const err = e as { code: string; message: string };
        assert.equal(err.code, 'E_FORMAT_UNKNOWN');
        assert.match(err.message, kind);
        assert.doesNotMatch(err.message, /secret|root|\$6\$|00010273/, err.message);
        return true;
      });
    }
  }
});

test('DICOM: invalid headers are refused instead of decoding to a black image', async () => {
  const values = Array.from({ length: W * H }, (_, i) => 100 + i * 37);
  const base = { width: W, height: H, bitsAllocated: 16 as const, values };
  const cases: [string, Parameters<typeof makeDicom>[0], RegExp][] = [
    ['highbit31.dcm', { ...base, bitsStored: 16, highBit: 31 }, /HighBit 31 does not fit/],
    ['highbit-low.dcm', { ...base, bitsStored: 12, highBit: 3 }, /HighBit 3 does not fit/],
    ['slope-abc.dcm', { ...base, slope: 'abc' }, /RescaleSlope is not a finite decimal/],
    ['slope-12abc.dcm', { ...base, slope: '12abc' }, /RescaleSlope is not a finite decimal/],
    ['slope-huge.dcm', { ...base, slope: '1e308' }, /overflow/],
    ['slope-zero.dcm', { ...base, slope: 0 }, /RescaleSlope is 0/],
    ['intercept-nan.dcm', { ...base, intercept: 'NaN' }, /RescaleIntercept is not a finite decimal/],
    ['window-abc.dcm', { ...base, window: { center: 'abc', width: 400 } }, /WindowCenter is not a finite decimal/],
    ['window-outside.dcm', { ...base, window: { center: 60000, width: 10 } }, /maps every pixel to black/],
    ['pixrep.dcm', { ...base, pixelRepresentation: 7 }, /PixelRepresentation 7/],
    ['palette.dcm', { ...base, photometric: 'PALETTE COLOR' }, /PALETTE COLOR is not supported/],
  ];
  for (const [name, spec, re] of cases) {
    const f = file(name, makeDicom(spec));
    await assert.rejects(decodeImage(f), (e: unknown) => {
      const err = e as { code: string; message: string };
      assert.ok(err.code === 'E_DECODE' || err.code === 'E_FORMAT_UNKNOWN', `${name}: ${err.code}`);
      assert.match(err.message, re, name);
      assert.ok(err.message.startsWith(f), `${name}: names the file`);
      return true;
    });
  }
  // the valid neighbours still decode (HighBit above BitsStored shifts; a fitting window)
  const shifted = Array.from({ length: W * H }, (_, i) => (i * 13) << 4);
  const g = await decodeImage(file('shift.dcm', makeDicom({ width: W, height: H, bitsAllocated: 16, bitsStored: 12, highBit: 15, values: shifted })));
  assert.ok(Math.abs(g.data[1]! - 13 / ((W * H - 1) * 13)) < 1e-6);
  assert.ok((await decodeImage(file('slope-ok.dcm', makeDicom({ ...base, slope: '2.5', intercept: '-1024' })))).data.some((v) => v > 0));
});

const PY = '/usr/bin/python3';
const SKIP_PIL = spawnSync(PY, ['-c', 'import numpy, PIL, cv2'], { encoding: 'utf8' }).status === 0 ? false : `${PY} with numpy, PIL and cv2 (python3-opencv) not importable: skipping the CMYK parity test`;

/** Remove the APP14 "Adobe" segment of a JPEG (a CMYK JPEG as some non-Adobe writers make it). */
function stripAdobe(jpg: Buffer): Buffer {
  const at = jpg.indexOf(Buffer.from([0xff, 0xee]));
  assert.ok(at > 0 && jpg.subarray(at + 4, at + 9).toString('latin1') === 'Adobe');
  return Buffer.concat([jpg.subarray(0, at), jpg.subarray(at + 2 + jpg.readUInt16BE(at + 2))]);
}

test('CMYK JPEG: gray equals PIL convert("L") (Adobe and plain CMYK) and is within a level or two of OpenCV', { skip: SKIP_PIL }, async () => {
  const w = 97;
  const h = 61;
  const rgb = Buffer.alloc(w * h * 3);
  for (let i = 0; i < w * h; i++) {
    rgb[3 * i] = (i * 7) % 256;
    rgb[3 * i + 1] = ((i % w) * 3 + Math.floor(i / w) * 2) % 256;
    rgb[3 * i + 2] = (i * 29 + 50) % 256;
  }
  const adobe = await sharp(rgb, { raw: { width: w, height: h, channels: 3 } }).toColourspace('cmyk').jpeg({ quality: 92 }).toBuffer();
  const files = [file('cmyk-adobe.jpg', adobe), file('cmyk-plain.jpg', stripAdobe(adobe)), path.join(tmp, 'cmyk-pil.jpg')];
  const script = `
import json, sys
import numpy as np, cv2
from PIL import Image
files = json.load(sys.stdin)
a = np.zeros((${h}, ${w}, 3), np.uint8)
i = np.arange(${w * h}).reshape(${h}, ${w})
a[..., 0] = (i * 7) % 256; a[..., 1] = (i % ${w} * 3 + i // ${w} * 2) % 256; a[..., 2] = (i * 29 + 50) % 256
Image.fromarray(a).convert('CMYK').save(files[2], quality=92)
for f in files:
    im = Image.open(f)
    assert im.mode == 'CMYK', im.mode
    np.asarray(im.convert('L')).tofile(f + '.pil')
    cv2.imread(f, cv2.IMREAD_GRAYSCALE).tofile(f + '.cv2')
`;
  const r = spawnSync(PY, ['-c', script], { input: JSON.stringify(files), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  for (const f of files) {
    const ours = await decodeGray8(f);
    assert.deepEqual([ours.width, ours.height], [w, h]);
    const pil = readFileSync(f + '.pil');
    const cv = readFileSync(f + '.cv2');
    let pilMax = 0;
    let cvSum = 0;
    let cvMax = 0;
    for (let k = 0; k < w * h; k++) {
      pilMax = Math.max(pilMax, Math.abs(pil[k]! - ours.data[k]!));
      const d = Math.abs(cv[k]! - ours.data[k]!);
      cvSum += d;
      cvMax = Math.max(cvMax, d);
    }
    assert.equal(pilMax, 0, `${path.basename(f)}: max difference from PIL ${pilMax}`);
    assert.ok(cvSum / (w * h) <= 1.5 && cvMax <= 4, `${path.basename(f)}: OpenCV differs by ${(cvSum / (w * h)).toFixed(2)} on average, ${cvMax} at most`);
  }
});

test('DICOM: JPEG baseline whose header says other than 8 bits is refused, not mapped out of [0, 1] (found by fuzzing)', async () => {
  const jpeg = await sharp(Buffer.alloc(4 * 4, 255), { raw: { width: 4, height: 4, channels: 1 } }).jpeg().toBuffer();
  for (const bitsStored of [1, 12]) {
    await assert.rejects(decodeImage(makeDicom({ width: 4, height: 4, jpeg, bitsStored, photometric: 'MONOCHROME1' })), { code: 'E_DECODE', message: /JPEG baseline holds 8-bit samples/ });
  }
  const ok = await decodeImage(makeDicom({ width: 4, height: 4, jpeg, photometric: 'MONOCHROME1' }));
  assert.ok(ok.data.every((v) => v >= 0 && v <= 1));
});
