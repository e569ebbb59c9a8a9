/**
 * Integration tests on the shared real images (../shared/data/cxr-mini): loading, decoding,
 * OpenCV parity of the resize on real images (cv2 run at test time on our decoded gray images,
 * nothing precomputed or committed), decode parity with PIL, DICOM variants, worker preparation.
 * Skipped with a message when the folder or python3-opencv is absent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cxrMiniPath } from './testing.js';
import { loadDataset } from './load.js';
import { decodeGray8 } from './decode.js';
import { preprocessGray8 } from './preprocess.js';
import { prepareImages } from './prepare.js';
import type { Dataset } from './types.js';

const root = await cxrMiniPath();
const SKIP_DATA = root ? false : 'cxr-mini not found at ../shared/data/cxr-mini (relative to the repository root): skipping the real-image tests';
const PY = '/usr/bin/python3';
const hasCv2 = spawnSync(PY, ['-c', 'import cv2, numpy, PIL'], { encoding: 'utf8' }).status === 0;
const SKIP_CV2 = SKIP_DATA || (hasCv2 ? false : `${PY} with cv2, numpy and PIL not importable: skipping the OpenCV/PIL parity test on real images`);
if (SKIP_DATA) console.log(`# ${SKIP_DATA}`);
else if (SKIP_CV2) console.log(`# ${SKIP_CV2}`);

let ds: Dataset;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'covidnet-cxr-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

test('cxr-mini: the manifest loads completely', { skip: SKIP_DATA }, async () => {
  ds = await loadDataset(root!);
  assert.equal(ds.kind, 'csv');
  assert.equal(ds.items.length, 727);
  assert.equal(ds.skipped.length, 0);
  assert.deepEqual(['normal', 'pneumonia', 'COVID-19'].map((c) => ds.items.filter((i) => i.label === c).length), [243, 242, 242]);
});

/** Every 9th image plus the DICOM: about 80 real images of every source and format. */
function sample(): Dataset['items'] {
  return ds.items.filter((it, i) => i % 9 === 0 || it.file.endsWith('.dcm'));
}

test('cxr-mini: decode + INTER_AREA match PIL + cv2.resize within 1 gray level on real images (224, 112, crop 0.1)', { skip: SKIP_CV2 }, async () => {
  ds ??= await loadDataset(root!);
  const items = sample();
  // pil: PIL's convert('L') of the file (PNG/JPEG) instead of our gray, so decoding is checked too
  const jobs: { raw: string; pil: string | null; w: number; h: number; crop: number; size: number; out: string; ours: Uint8Array }[] = [];
  for (const [i, it] of items.entries()) {
    const g = await decodeGray8(it.file);
    const raw = path.join(tmp, `${i}.gray`);
    writeFileSync(raw, g.data);
    for (const [size, crop] of [[224, 0], [112, 0], [224, 0.1]] as const) {
      const ours = preprocessGray8(g.data, g.width, g.height, { size, crop });
      const job = { raw, w: g.width, h: g.height, crop, size, ours };
      jobs.push({ ...job, pil: null, out: path.join(tmp, `${i}-${size}-${crop}.out`) });
      if (!it.file.endsWith('.dcm')) jobs.push({ ...job, pil: it.file, out: path.join(tmp, `${i}-${size}-${crop}.pil`) });
    }
  }
  const script = `
import json, sys
import numpy as np, cv2
from PIL import Image
for j in json.load(sys.stdin):
    g = np.fromfile(j['raw'], dtype=np.uint8).reshape(j['h'], j['w']) if j['pil'] is None else np.asarray(Image.open(j['pil']).convert('L'))
    t, l = int(np.floor(j['crop'] * j['h'] + 0.5)), int(np.floor(j['crop'] * j['w'] + 0.5))  # half up, as cropBox
    g = g[t:j['h'] - t, l:j['w'] - l]
    cv2.resize(g, (j['size'], j['size']), interpolation=cv2.INTER_AREA).tofile(j['out'])
`;
  const r = spawnSync(PY, ['-c', script], { input: JSON.stringify(jobs.map(({ ours: _o, ...j }) => j)), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  let maxDiff = 0;
  let same = 0;
  let total = 0;
  for (const j of jobs) {
    const cv = readFileSync(j.out);
    assert.equal(cv.length, j.ours.length);
    for (let k = 0; k < cv.length; k++) {
      const d = Math.abs(cv[k]! - j.ours[k]!);
      if (d > maxDiff) maxDiff = d;
      if (d === 0) same++;
    }
    total += cv.length;
  }
  assert.ok(maxDiff <= 1, `max difference ${maxDiff}`);
  assert.ok(same / total > 0.99, `${((100 * same) / total).toFixed(3)}% identical`);
});

test('cxr-mini: gray decoding matches PIL convert("L") within 1 level (PNG and JPEG)', { skip: SKIP_CV2 }, async () => {
  ds ??= await loadDataset(root!);
  const items = sample().filter((it) => !it.file.endsWith('.dcm'));
  const script = `
import json, sys
import numpy as np
from PIL import Image
for f, out in json.load(sys.stdin):
    np.asarray(Image.open(f).convert('L')).tofile(out)
`;
  const outs = items.map((_, i) => path.join(tmp, `pil-${i}.gray`));
  const r = spawnSync(PY, ['-c', script], { input: JSON.stringify(items.map((it, i) => [it.file, outs[i]])), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  for (const [i, it] of items.entries()) {
    const ours = (await decodeGray8(it.file)).data;
    const pil = readFileSync(outs[i]!);
    assert.equal(pil.length, ours.length, it.file);
    let maxDiff = 0;
    for (let k = 0; k < pil.length; k++) maxDiff = Math.max(maxDiff, Math.abs(pil[k]! - ours[k]!));
    // colour: 0.299 R + 0.587 G + 0.114 B rounded in floats here, in fixed point in PIL
    assert.ok(maxDiff <= 1, `${it.file}: max difference ${maxDiff}`);
  }
});

test('cxr-mini: DICOM files (uncompressed 8-bit; JPEG baseline; its MONOCHROME1 twin is the inverse)', { skip: SKIP_DATA }, async () => {
  const nih = path.join(root!, 'images/nih-dicom/1.3.6.1.4.1.11129.5.5.110503645592756492463169821050252582267888.dcm');
  const g = await decodeGray8(nih);
  assert.deepEqual([g.width, g.height], [1024, 1024]);
  const m2 = await decodeGray8(path.join(root!, 'unlabeled/siim-acr/1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm'));
  const m1 = await decodeGray8(path.join(root!, 'unlabeled/siim-acr/Fake_MONOHR1.dcm'));
  assert.deepEqual([m2.width, m2.height], [1024, 1024]);
  let mean = 0;
  for (let k = 0; k < m1.data.length; k++) {
    assert.equal(m1.data[k], 255 - m2.data[k]!);
    mean += m2.data[k]!;
  }
  mean /= m2.data.length;
  // a chest radiograph, not a blank or saturated frame
  assert.ok(mean > 40 && mean < 215, `mean ${mean}`);
});

test('cxr-mini: worker preparation of a sample decodes everything', { skip: SKIP_DATA }, async () => {
  ds ??= await loadDataset(root!);
  const set = await prepareImages(sample(), { size: 64, crop: 0 }, { cacheDir: false, threads: 2 });
  assert.equal(set.failed.length, 0, JSON.stringify(set.failed));
  assert.equal(set.items.length, sample().length);
});
