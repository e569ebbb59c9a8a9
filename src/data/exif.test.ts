import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { jpegExifOrientation } from './exif.js';

test('EXIF orientation is read from the JPEG markers (1 when absent or malformed)', async () => {
  const raw = Buffer.alloc(16 * 8, 128);
  const plain = await sharp(raw, { raw: { width: 16, height: 8, channels: 1 } }).jpeg().toBuffer();
  assert.equal(jpegExifOrientation(plain), 1);
  for (const o of [1, 3, 6, 8]) {
    const jpg = await sharp(raw, { raw: { width: 16, height: 8, channels: 1 } }).jpeg().withMetadata({ orientation: o }).toBuffer();
    assert.equal(jpegExifOrientation(jpg), o, `orientation ${o}`);
  }
  // an APP1 "Exif" segment with a broken TIFF header, and a file cut inside the markers
  const broken = Buffer.concat([plain.subarray(0, 2), Buffer.from([0xff, 0xe1, 0, 16]), Buffer.from('Exif\0\0XXjunkjunk', 'latin1'), plain.subarray(2)]);
  assert.equal(jpegExifOrientation(broken), 1);
  assert.equal(jpegExifOrientation(plain.subarray(0, 5)), 1);
});
