/**
 * Layer by layer against the mission's architecture (and the PyTorch mirror's wiring), for two
 * widths: every PEPX conv's output shape and parameter count, the upper layers, the head, and
 * that these layers account for every parameter of the model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { covidNet, covidEncoder, STAGE_DEPTHS } from './index.js';

const conv = (cin: number, cout: number, k = 1) => k * k * cin * cout + cout;
const dw = (c: number) => 9 * c + c;

for (const width of [8, 16]) {
  test(`COVID-Net layer by layer, width ${width}, size 64`, () => {
    const size = 64;
    const fc = 24;
    const m = covidNet({ size, width, fc, seed: 1 });
    let counted = 0;
    const check = (name: string, shape: (number | null)[], params: number) => {
      const l = m.getLayer(name);
      assert.deepEqual(l.outputShape, shape, `${name} shape`);
      assert.equal(l.countParams(), params, `${name} params`);
      counted += params;
    };
    const pepx = (name: string, cin: number, plan: [number, number, number, number], side: number) => {
      const [p1, e, p2, out] = plan;
      check(`${name}/project1`, [null, side, side, p1], conv(cin, p1));
      check(`${name}/expand`, [null, side, side, e], conv(p1, e));
      check(`${name}/depthwise`, [null, side, side, e], dw(e));
      check(`${name}/project2`, [null, side, side, p2], conv(e, p2));
      check(`${name}/extend`, [null, side, side, out], conv(p2, out));
    };
    check('stem/conv', [null, 32, 32, 64], conv(1, 64, 7));
    let side = 32;
    // stage 1: first module from the 64-channel stem (32 → 48 → 48 → 32 → width), pooled
    check('stage1/ul/conv', [null, side, side, width], conv(64, width));
    pepx('stage1/pepx1', 64, [32, 48, 32, width], side);
    side /= 2;
    assert.deepEqual(m.getLayer('stage1/pepx1/pool').outputShape, [null, side, side, width]);
    for (let k = 2; k <= STAGE_DEPTHS[0]; k++) pepx(`stage1/pepx${k}`, width, [width / 2, (3 * width) / 4, width / 2, width], side);
    let p = width;
    for (let s = 2; s <= 4; s++) {
      check(`stage${s}/ul/conv`, [null, side, side, 2 * p], conv(p, 2 * p));
      pepx(`stage${s}/pepx1`, p, [p / 2, (3 * p) / 4, p / 2, 2 * p], side);
      p *= 2;
      side /= 2;
      assert.deepEqual(m.getLayer(`stage${s}/pepx1/pool`).outputShape, [null, side, side, p]);
      for (let k = 2; k <= STAGE_DEPTHS[s - 1]!; k++) pepx(`stage${s}/pepx${k}`, p, [p / 2, (3 * p) / 4, p / 2, p], side);
    }
    assert.deepEqual(m.getLayer('feature_sum').outputShape, [null, 2, 2, 8 * width]);
    check('fc1', [null, fc], conv(2 * 2 * 8 * width, fc));
    check('fc2', [null, 256], conv(fc, 256));
    check('logits', [null, 3], conv(256, 3));
    assert.equal(counted, m.countParams(), 'layers above cover every parameter');
    const e = covidEncoder({ size, width, fc, seed: 1 });
    assert.equal(e.countParams(), m.countParams() - conv(256, 3));
    assert.deepEqual(e.outputs[0]!.shape, [null, 256]);
    m.dispose();
    e.dispose();
  });
}
