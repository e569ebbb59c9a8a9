import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cropBox, preprocessGray8 } from '../data/index.js';
import { cellCentre, inputToOriginal, makeGeometry, originalToInput, resampleToOriginal } from './geometry.js';
import { borderMass, camPeak } from './stats.js';

test('a known point maps through crop and resize: a bright dot lands back where it was', () => {
  // 300×200 original, 10% crop per side, resized to 64² by the data pipeline's own code
  const W = 300;
  const H = 200;
  const crop = 0.1;
  const size = 64;
  for (const [x0, y0] of [[150, 100], [61, 37], [233, 160]] as const) {
    const img = new Uint8Array(W * H);
    for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) img[(y0 + dy) * W + x0 + dx] = 255;
    const px = preprocessGray8(img, W, H, { size, crop });
    // intensity-weighted centre of the dot in the network input
    let s = 0;
    let su = 0;
    let sv = 0;
    for (let v = 0; v < size; v++) for (let u = 0; u < size; u++) {
      const w = px[v * size + u]!;
      s += w;
      su += w * u;
      sv += w * v;
    }
    const box = cropBox(W, H, crop);
    assert.deepEqual(box, { left: 30, top: 20, width: 240, height: 160 });
    const g = makeGeometry(W, H, box, size, 2);
    const back = inputToOriginal(g, su / s, sv / s);
    // within one input pixel (240/64 = 3.75 and 160/64 = 2.5 original pixels)
    assert.ok(Math.abs(back.x - x0) <= 3.75, `x ${back.x} vs ${x0}`);
    assert.ok(Math.abs(back.y - y0) <= 2.5, `y ${back.y} vs ${y0}`);
    const fwd = originalToInput(g, x0, y0);
    assert.ok(Math.abs(fwd.u - su / s) <= 1 && Math.abs(fwd.v - sv / s) <= 1);
  }
});

test('heat map resampled onto the original: peak at the hot cell centre, zero outside the crop box', () => {
  const W = 320;
  const H = 240;
  const box = cropBox(W, H, 0.125); // 40, 30, 240 × 180
  const g = makeGeometry(W, H, box, 128, 4);
  assert.equal(g.stride, 32);
  const cam = new Float32Array(16);
  cam[2 * 4 + 1] = 1; // row 2, column 1
  const p = camPeak(cam, g);
  assert.deepEqual(p.cell, { row: 2, col: 1 });
  // centre of cell (2, 1): input (48, 80) (continuous coordinates) → original 40 + 48·240/128, 30 + 80·180/128 (minus half a pixel for pixel indices)
  assert.equal(p.x, Math.round(40 + (48 * 240) / 128 - 0.5));
  assert.equal(p.y, Math.round(30 + (80 * 180) / 128 - 0.5));
  assert.deepEqual(cellCentre(g, 2, 1), { x: 40 + (48 * 240) / 128 - 0.5, y: 30 + (80 * 180) / 128 - 0.5 });
  const map = resampleToOriginal(cam, g);
  assert.equal(map.length, W * H);
  let best = 0;
  for (let i = 1; i < map.length; i++) if (map[i]! > map[best]!) best = i;
  assert.ok(Math.abs((best % W) - p.x) <= 1 && Math.abs(Math.floor(best / W) - p.y) <= 1);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const outside = x < box.left || x >= box.left + box.width || y < box.top || y >= box.top + box.height;
    if (outside) assert.equal(map[y * W + x], 0);
  }
});

test('border mass: share of the map in the outer band', () => {
  const W = 10;
  const H = 10;
  const uniform = new Float32Array(W * H).fill(1);
  assert.ok(Math.abs(borderMass(uniform, W, H, 0.1)! - 36 / 100) < 1e-9);
  const centre = new Float32Array(W * H);
  centre[5 * W + 5] = 1;
  assert.equal(borderMass(centre, W, H, 0.1), 0);
  const edge = new Float32Array(W * H);
  edge[0] = 1;
  assert.equal(borderMass(edge, W, H, 0.1), 1);
  assert.equal(borderMass(new Float32Array(W * H), W, H), null);
  assert.throws(() => borderMass(uniform, W, H, 0.6), RangeError);
});
