import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '../tf.js';
import { covidNet, siameseCovidNet, disposeModel, registerCustomLayers } from '../model/index.js';
import { fileSystemIO, saveModel } from './modelio.js';
import { writeFileAtomic } from './atomic.js';

test('file-system IO: standard TF.js format, single and siamese round trip, atomic replace', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'covidnet-io-'));
  const before = tf.memory().numTensors;
  try {
    for (const build of [covidNet, siameseCovidNet]) {
      const m = build({ size: 32, width: 4, fc: 8, seed: 2 });
      const x = tf.randomNormal([2, 32, 32, 1], 0, 1, 'float32', 7);
      const inputs = m.inputs.length === 2 ? [x, tf.reverse(x, 0)] : x;
      const y = m.predict(inputs) as tf.Tensor;
      const d = join(dir, m.name);
      await saveModel(m, d);
      await saveModel(m, d); // a second save replaces the first and leaves one weights file
      const files = (await readdir(d)).sort();
      assert.equal(files.length, 2, files.join());
      assert.ok(files.includes('model.json'));
      const json = JSON.parse(await readFile(join(d, 'model.json'), 'utf8'));
      assert.equal(json.format, 'layers-model');
      assert.equal(json.weightsManifest[0].paths.length, 1);
      registerCustomLayers();
      const loaded = await tf.loadLayersModel(fileSystemIO(d));
      const y2 = loaded.predict(inputs) as tf.Tensor;
      assert.deepEqual(Array.from(y2.dataSync()), Array.from(y.dataSync()));
      tf.dispose([x, y, y2, inputs]);
      disposeModel(m);
      disposeModel(loaded);
    }
    await assert.rejects(tf.loadLayersModel(fileSystemIO(join(dir, 'nothing'))), /no saved model here/);
    await writeFileAtomic(join(dir, 'a.txt'), 'one');
    await writeFileAtomic(join(dir, 'a.txt'), 'two');
    assert.equal(await readFile(join(dir, 'a.txt'), 'utf8'), 'two');
    assert.deepEqual((await readdir(dir)).filter((f) => f.endsWith('.tmp')), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  assert.equal(tf.memory().numTensors, before, 'leaked tensors');
});
