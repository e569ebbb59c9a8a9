/**
 * The serve page with a run that has ood.json and calibration.json (a tiny phantom run, trained
 * here): the result JSON carries the verdict, and in headless Chromium an out-of-distribution
 * image is shown as such, without a class until asked.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSynthDataset } from '../data/index.js';
import { parseRunConfig } from '../config.js';
import { train } from '../train/train.js';
import { readSplits } from '../run/files.js';
import { writeOodImages } from '../trust/ood-images.js';
import { CLASSES } from '../types.js';
import { chromiumMissing, launchChromium, waitForOrSay } from '../util/browser.js';
import { startServer, type ExplainResponse } from './server.js';

let dir = '';
let run = '';
let xray = '';
let noise = '';

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'covidnet-serve-ood-'));
  const data = join(dir, 'data');
  await writeSynthDataset({ out: data, perClass: 10, imageSize: 48, seed: 3, shortcuts: false });
  run = join(dir, 'run');
  await train(parseRunConfig({ data, out: run, model: 'single', size: 32, width: 4, fc: 8, batch: 8, epochs: 2, cacheDir: join(dir, 'cache'), threads: 1, seed: 5 }));
  xray = join(data, (await readSplits(run)).splits.test[0]!.file);
  await writeOodImages({ out: join(dir, 'ood'), perKind: 1, kinds: ['text'] });
  noise = join(dir, 'ood', 'text', 'text-001.png');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('serve: the result JSON carries calibrated probabilities and the OOD verdict', async () => {
  const s = await startServer({ run, port: 0 });
  try {
    const post = async (file: string) => (await (await fetch(`${s.url}api/explain`, { method: 'POST', body: await readFile(file) })).json()) as ExplainResponse;
    const a = await post(noise);
    assert.equal(a.in_distribution, false, `a page of text accepted: ${JSON.stringify({ s: a.ood_score, t: a.ood_threshold })}`);
    assert.ok(a.ood_score! > a.ood_threshold!);
    assert.ok((CLASSES as readonly string[]).includes(a.predicted), 'the JSON keeps the class and the scores');
    const b = await post(xray);
    assert.equal(typeof b.in_distribution, 'boolean');
    assert.ok(b.calibrated && Math.abs(CLASSES.reduce((x, c) => x + b.calibrated![c], 0) - 1) < 1e-3);
  } finally {
    await s.close();
  }
});

test('serve: in a browser, an out-of-distribution image gets a plain verdict and no class until asked', async (t) => {
  const missing = chromiumMissing();
  if (missing) {
    t.skip(missing);
    return;
  }
  const s = await startServer({ run, port: 0 });
  const ctx = await launchChromium(join(dir, 'chromium-profile'));
  let release = (): void => undefined;
  const held = new Promise<void>((r) => (release = r));
  try {
    const p = await ctx.newPage();
    const errors: string[] = [];
    p.on('pageerror', (e) => errors.push(e.message));
    // the model's file held back until the image's card shows: the image is chosen before the page
    // is ready and must wait for the model, not be dropped (CI once lost it this way)
    await p.route('**/model.json', async (r) => {
      await held;
      await r.continue();
    });
    await p.goto(s.url, { waitUntil: 'load' });
    await p.setInputFiles('#files', [noise]);
    assert.equal(await p.getAttribute('html', 'data-ready'), null, 'the page was ready before the file was chosen: the early path is not tested');
    await waitForOrSay(p, '.card.pending', 10_000, errors);
    release();
    // a card either way (a verdict or an error), so a failure says what the page showed; a generous
    // wait: a loaded CI machine once took over 20 s here (not a timing check)
    await waitForOrSay(p, '.card.ood .verdict, .card.err, .card[data-predicted]', 90_000, errors);
    if (!(await p.isVisible('.card.ood .verdict'))) assert.fail(`expected an out-of-distribution verdict, the page shows: ${(await p.textContent('.card'))?.trim() ?? '(no card)'}`);
    const verdict = await p.textContent('.card.ood .verdict');
    assert.match(verdict ?? '', /Out of distribution: no class given/);
    assert.match(verdict ?? '', /does not look like the frontal chest X-rays this run was trained on/);
    assert.match(verdict ?? '', /ood score -?\d+\.\d{3} > threshold -?\d+\.\d{3}/);
    assert.equal(await p.isVisible('.card.ood .pred'), false, 'the class is shown for an out-of-distribution image');
    await p.click('.card.ood .reveal');
    const cls = await p.textContent('.card.ood .pred');
    assert.ok(CLASSES.some((c) => c === cls), `class shown after asking: ${cls}`);
    assert.equal(await p.textContent('.card.ood .marked'), 'out of distribution: unreliable');
    assert.deepEqual(errors, []);
    if (process.env['COVIDNET_SERVE_SCREENSHOT']) await p.screenshot({ path: process.env['COVIDNET_SERVE_SCREENSHOT'].replace(/(\.png)?$/, '-ood.png'), fullPage: true });
  } finally {
    release();
    await ctx.close();
    await s.close();
  }
});
