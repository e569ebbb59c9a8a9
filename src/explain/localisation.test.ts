/**
 * Heat maps on a task whose answer is known: generated images in which only a small planted mark
 * decides the class (normal: no mark, pneumonia: a bright square, COVID-19: a dark square,
 * anywhere in the image over a random smooth background; generator, training and scoring in
 * testing-marks.ts). For each of 5 seeds, a tiny single net and a tiny siamese net (the default
 * `contrastive` recipe, class templates) are trained until the task is learnt; the peak of the
 * default heat map (insertion into the image blurred by one cell, 8×8 cells, the class's own score)
 * must fall on the mark in ≥ 90% of the marked test images of every seed, both nets, counting every
 * class (a flat map is a miss).
 * The other methods are measured and printed for docs/explain.md, not asserted.
 *
 * Measured numbers come from the `# localisation` lines:
 *   COVIDNET_TEST_VERBOSE=1 node --test dist/explain/localisation.test.js
 * COVIDNET_TEST_SEEDS=1,2 runs fewer seeds (the bar is asserted on each seed run).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../tf.js';
import { disposeModel } from '../model/index.js';
import { initBackend } from '../backend/index.js';
import { GradCam, type CamOptions } from './gradcam.js';
import { scorePeaks, toInput, trainSiameseOnMarks, trainSingleOnMarks, type TrainedMarks } from './testing-marks.js';

const SEEDS = (process.env['COVIDNET_TEST_SEEDS'] ?? '1,2,3,4,5').split(',').map(Number);
const VERBOSE = Boolean(process.env['COVIDNET_TEST_VERBOSE']);
/** Share of marked test images whose peak must be on the mark, per seed, for the default map: the issue's 0.9 (measured lowest 37/40, siamese seed 3; docs/explain.md). */
const BAR = 0.9;

const METHODS: Record<string, CamOptions> = {
  insertion: { method: 'insertion' },
  'insertion-blank': { method: 'insertion', baseline: 'blank' },
  occlusion: { method: 'occlusion' },
  'occlusion-blank': { method: 'occlusion', baseline: 'blank' },
  'gradcam-margin': { method: 'gradcam', score: 'margin' },
  'gradcam-class': { method: 'gradcam', score: 'class' },
};

for (const net of ['single', 'siamese'] as const) {
  test(`planted mark, ${net} net: the insertion-map peak is on the mark in ≥ 90% of marked test images, on each of ${SEEDS.length} seeds`, async (t) => {
    // Training even a tiny COVID-Net on the pure-JS cpu backend takes tens of seconds per step.
    const choice = await initBackend({ purpose: 'train' });
    if (!choice.fast) {
      t.skip(`needs the native oneDNN backend to train in reasonable time (${choice.reason})`);
      return;
    }
    const problems: string[] = [];
    for (const seed of SEEDS) {
      const t0 = performance.now();
      const trained: TrainedMarks = net === 'single' ? trainSingleOnMarks(seed, { verbose: VERBOSE }) : trainSiameseOnMarks(seed, { verbose: VERBOSE });
      const before = tf.memory().numTensors;
      const cam = net === 'single' ? GradCam.single(trained.model) : GradCam.siamese(trained.model, trained.templates!);
      const xt = toInput(trained.test);
      const scores = Object.fromEntries(Object.entries(METHODS).map(([name, o]) => [name, scorePeaks(cam.compute(xt, o), trained.test)]));
      xt.dispose();
      cam.dispose();
      const leaked = tf.memory().numTensors - before;
      disposeModel(trained.model);
      const acc = scores['insertion']!.correct / trained.test.length;
      console.log(
        `# localisation ${net} seed ${seed}: ` +
          Object.entries(scores).map(([name, m]) => `${name} ${m.hits}/${m.marked}${m.empty ? ` (${m.empty} flat)` : ''}`).join(', ') +
          `; chance ${scores['insertion']!.chance.toFixed(1)} (16 px cells), ${scores['gradcam-margin']!.chance.toFixed(1)} (32 px); test acc ${acc.toFixed(3)}, train ${trained.trainAcc.toFixed(3)} after ${trained.epochs} epochs at lr ${trained.lr.toExponential(0)}, ${((performance.now() - t0) / 1000).toFixed(0)} s`,
      );
      // every seed is measured before anything fails, so the printed lines are the whole table
      if (leaked !== 0) problems.push(`seed ${seed}: heat maps leaked ${leaked} tensors`);
      if (!(acc > 0.8)) problems.push(`seed ${seed}: the tiny ${net} net did not learn the planted-mark task (test accuracy ${acc.toFixed(3)})`);
      const ins = scores['insertion']!;
      if (ins.hits < BAR * ins.marked) problems.push(`seed ${seed}: insertion-map peak on the mark in only ${ins.hits}/${ins.marked} images`);
    }
    assert.deepEqual(problems, []);
  });
}
