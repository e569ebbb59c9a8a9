/**
 * The exported web app in headless Chromium, served by a plain static server: for a single and a
 * siamese run, the page's class scores equal `covidnet predict`'s within 1e-3 on the same files
 * and the Grad-CAM peak is the CLI's; no request leaves the origin; the page passes axe-core's
 * checks; and the browser's PNG/JPEG decoding is compared with the CLI's (numbers printed).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile, readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { CLASSES } from '../types.js';
import { chromiumMissing, launchChromium, waitForOrSay, watchPage } from '../util/browser.js';
import { predictFiles } from '../predict/predict.js';
import { Explainer, isExplained } from '../explain/explain.js';
import { decodeGray8 } from '../data/decode.js';
import { makeDicom } from '../data/testing.js';
import { exportWeb } from './site.js';
import { makeUntrainedRun, sampleImages, staticServer } from './testing.js';

let dir = '';
let files: string[] = [];
let source = '';

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'covidnet-web-'));
  ({ files, source } = await sampleImages(dir, 20));
  // one DICOM through the same parser in both
  const dcm = join(dir, 'phantom.dcm');
  await writeFile(dcm, makeDicom({ width: 96, height: 80, bitsAllocated: 16, bitsStored: 12 }));
  files.push(dcm);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface PageResult {
  file: string;
  predicted: string;
  scores: Record<string, number>;
  peak: { x: number; y: number } | null;
}

async function pageResults(p: Page, n: number): Promise<PageResult[]> {
  await p.waitForFunction((k) => document.querySelectorAll('[data-predicted], .card.err').length >= k, n, { timeout: 600_000 }); // insertion maps: 65 forwards an image in the browser
  return p.$$eval('[data-predicted]', (els) =>
    els.map((e) => ({ file: e.getAttribute('data-file')!, predicted: e.getAttribute('data-predicted')!, scores: JSON.parse(e.getAttribute('data-scores')!), peak: JSON.parse(e.getAttribute('data-peak')!) })),
  );
}

for (const kind of ['single', 'siamese'] as const) {
  test(`web: ${kind} run in the browser = covidnet predict (scores within 1e-3, same Grad-CAM peak), no outside requests, axe clean`, async (t) => {
    const missing = chromiumMissing();
    if (missing) {
      t.skip(missing);
      return;
    }
    const run = await makeUntrainedRun(dir, kind, { size: 64, width: 4, fc: 8, crop: 0.05, seed: kind === 'single' ? 3 : 4 });
    const site = join(dir, `site-${kind}`);
    const exported = await exportWeb({ run, out: site });
    const names = (await readdir(site)).sort();
    for (const f of ['index.html', 'app.js', 'app.css', 'site.json', 'preprocess.json', 'NOTICE.txt', 'model', 'tfjs-backend-wasm-simd.wasm']) assert.ok(names.includes(f), `${f} in the site`);
    assert.equal(names.includes('templates.json'), kind === 'siamese');
    const cli = await predictFiles(run, files);
    const ex = await Explainer.open(run);
    const cams = await ex.explainFiles(files);
    ex.close();
    const srv = await staticServer(site);
    const ctx = await launchChromium(join(dir, `chromium-${kind}`));
    try {
      const p = await ctx.newPage();
      const { errors, outside } = watchPage(p, srv.url);
      await p.goto(srv.url, { waitUntil: 'load' });
      await waitForOrSay(p, 'html[data-ready]', 60_000, errors);
      const backend = await p.getAttribute('html', 'data-backend');
      await p.setInputFiles('#files', files);
      const got = await pageResults(p, files.length);
      assert.equal(got.length, files.length, `every file has a result: ${await p.textContent('#results')}`);
      let maxDiff = 0;
      let peaksSame = 0;
      for (const [i, f] of files.entries()) {
        const name = f.split('/').pop()!;
        const b = got.find((g) => g.file === name)!;
        const c = cli.predictions[i]!;
        assert.ok(c.ok && b, `${name}: both predicted`);
        for (const cls of CLASSES) maxDiff = Math.max(maxDiff, Math.abs(b.scores[cls]! - c.scores[cls]));
        assert.equal(b.predicted, c.predicted, `${name}: class`);
        const cam = cams[i]!;
        assert.ok(isExplained(cam));
        if (JSON.stringify(b.peak) === JSON.stringify(cam.peak)) peaksSame++;
        else assert.fail(`${name}: peak ${JSON.stringify(b.peak)} in the browser, ${JSON.stringify(cam.peak)} in the CLI`);
      }
      t.diagnostic(`${kind}: backend ${backend}, ${files.length} images (${source}), max |score difference| ${maxDiff.toExponential(2)}, peaks equal ${peaksSame}/${files.length}, site ${(exported.bytes / 1e6).toFixed(2)} MB`);
      assert.ok(maxDiff <= 1e-3, `max score difference ${maxDiff}`);
      // the other backend, forced: the page picks wasm where WebGL is a software renderer, webgl on a GPU
      const other = backend === 'wasm' ? 'webgl' : 'wasm';
      const q = await ctx.newPage();
      await q.goto(`${srv.url}?backend=${other}`, { waitUntil: 'load' });
      await waitForOrSay(q, 'html[data-ready]', 60_000);
      assert.equal(await q.getAttribute('html', 'data-backend'), other);
      await q.setInputFiles('#files', files);
      const got2 = await pageResults(q, files.length);
      let maxDiff2 = 0;
      for (const [i, f] of files.entries()) {
        const b = got2.find((g) => g.file === f.split('/').pop())!;
        const c = cli.predictions[i]!;
        const cam = cams[i]!;
        assert.ok(c.ok && isExplained(cam));
        for (const cls of CLASSES) maxDiff2 = Math.max(maxDiff2, Math.abs(b.scores[cls]! - c.scores[cls]));
        assert.equal(JSON.stringify(b.peak), JSON.stringify(cam.peak), `${b.file}: peak on ${other}`);
      }
      t.diagnostic(`${kind}: backend ${other} (forced), max |score difference| ${maxDiff2.toExponential(2)}, peaks equal ${files.length}/${files.length}`);
      assert.ok(maxDiff2 <= 1e-3, `max score difference on ${other}: ${maxDiff2}`);
      await q.close();
      // accessibility: axe-core evaluated in the page (not a <script>: the page's CSP refuses inline scripts)
      const axe = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
      const violations = await p.evaluate(async (src) => {
        (0, eval)(src);
        const r = await (globalThis as unknown as { axe: { run(): Promise<{ violations: { id: string; nodes: unknown[] }[] }> } }).axe.run();
        return r.violations.map((v) => `${v.id} (${v.nodes.length})`);
      }, axe);
      assert.deepEqual(violations, [], 'axe-core violations');
      // keyboard: the drop zone is reachable with Tab and the overlays have alt text
      const alts = await p.$$eval('.card img', (els) => els.map((e) => e.getAttribute('alt') ?? ''));
      assert.ok(alts.length === files.length && alts.every((a) => /Grad-CAM overlay/.test(a)));
      await p.focus('body');
      const order: string[] = [];
      for (let k = 0; k < 4; k++) {
        await p.keyboard.press('Tab');
        order.push(await p.evaluate(() => document.activeElement?.id || document.activeElement?.tagName || ''));
      }
      assert.deepEqual(order.slice(0, 3), ['drop', 'files', 'target'], `focus order ${order.join(' → ')}`);
      assert.deepEqual(errors, []);
      assert.deepEqual(outside, [], 'the page loaded something from elsewhere');
      if (kind === 'single') {
        // decoder differences, browser vs CLI, on the 8-bit gray images
        const rows: string[] = [];
        let worst = 0;
        for (const f of files) {
          const bytes = [...(await readFile(f))];
          const b = await p.evaluate(async ([bs, n]) => (globalThis as unknown as { covidnet: { decodeGray8(b: number[], n: string): Promise<{ width: number; height: number; data: number[] }> } }).covidnet.decodeGray8(bs, n), [bytes, f] as const);
          const c = await decodeGray8(f);
          assert.equal(b.width, c.width);
          assert.equal(b.height, c.height);
          let max = 0;
          let differ = 0;
          for (let k = 0; k < c.data.length; k++) {
            const d = Math.abs(b.data[k]! - c.data[k]!);
            if (d > 0) differ++;
            if (d > max) max = d;
          }
          worst = Math.max(worst, max);
          rows.push(`${f.split('.').pop()}: max ${max}, ${((100 * differ) / c.data.length).toFixed(2)}% of pixels differ`);
        }
        t.diagnostic(`decoders, browser vs CLI: worst ${worst} gray levels; ${rows.join('; ')}`);
      }
    } finally {
      await ctx.close();
      await srv.close();
    }
  });
}
