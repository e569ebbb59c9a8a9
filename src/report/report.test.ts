import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '../tf.js';
import { writeComparisonReport, writeRunReport } from './report.js';
import { makeTinyRun } from './testing.js';
import { RESEARCH_NOTICE } from '../types.js';

const CHROMIUM = '/usr/bin/chromium';

test('report: a tiny run gives a self-contained HTML page and PNG figures; the page renders in headless Chromium', async (t) => {
  await tf.setBackend('cpu');
  const dir = await mkdtemp(join(tmpdir(), 'covidnet-report-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { run } = await makeTinyRun(dir);
  const before = tf.memory().numTensors;
  const r = await writeRunReport(run);
  assert.equal(tf.memory().numTensors, before);
  assert.ok(existsSync(r.html));
  const html = await readFile(r.html, 'utf8');
  assert.ok(html.includes(RESEARCH_NOTICE));
  // self-contained: every image is a data URI, nothing is fetched
  const srcs = [...html.matchAll(/<img [^>]*src="([^"]*)"/g)].map((m) => m[1]!);
  assert.ok(srcs.length >= 3 + 6, `expected curves, confusion, metrics and 6 Grad-CAM samples, got ${srcs.length} images`);
  assert.ok(srcs.every((s) => s.startsWith('data:image/png;base64,')));
  assert.ok(!/(src|href)="https?:/.test(html));
  const names = r.figures.map((f) => f.slice(f.lastIndexOf('/') + 1));
  for (const n of ['training-curves.png', 'confusion-data-test.png', 'metrics-data-test.png']) assert.ok(names.includes(n), `${n} missing`);
  assert.equal(names.filter((n) => n.startsWith('gradcam-')).length, 6);
  for (const f of r.figures) {
    const m = await sharp(f).metadata();
    assert.equal(m.format, 'png');
    assert.ok((m.width ?? 0) > 100 && (m.height ?? 0) > 100);
  }
  // the confusion matrix is not blank (coloured cells and text)
  const st = await sharp(join(run, 'report', 'confusion-data-test.png')).stats();
  assert.ok(st.channels[0]!.stdev > 20);

  const cmp = await writeComparisonReport([run, run], { out: join(dir, 'cmp') });
  const chtml = await readFile(cmp.html, 'utf8');
  assert.ok(chtml.includes('balanced accuracy') && chtml.includes(RESEARCH_NOTICE));

  await t.test('browser check: renders, images load, no console errors, non-blank screenshot', async (tt) => {
    if (!existsSync(CHROMIUM)) {
      tt.skip(`${CHROMIUM} not installed (Debian: apt-get install chromium; scripts/system-deps.sh does it under CI)`);
      return;
    }
    const { chromium } = await import('playwright-core');
    const ctx = await chromium.launchPersistentContext(join(dir, 'chromium-profile'), {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1200, height: 900 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      for (const page of [r.html, cmp.html]) {
        const p = await ctx.newPage();
        const errors: string[] = [];
        p.on('console', (m) => {
          if (m.type() === 'error') errors.push(m.text());
        });
        p.on('pageerror', (e) => errors.push(e.message));
        await p.goto(`file://${page}`, { waitUntil: 'load' });
        // (runs in the page; typed structurally, the project compiles without DOM types)
        const imgs = await p.$$eval('img', (els) => els.map((e) => {
          const img = e as unknown as { complete: boolean; naturalWidth: number };
          return { ok: img.complete && img.naturalWidth > 0 };
        }));
        assert.ok(imgs.length > 0 && imgs.every((i) => i.ok), `images not loaded: ${JSON.stringify(imgs)}`);
        assert.deepEqual(errors, []);
        assert.ok((await p.title()).startsWith('covidnet'));
        const shot = join(dir, `${page === r.html ? 'run' : 'comparison'}-screenshot.png`);
        await p.screenshot({ path: shot, fullPage: true });
        const s = await sharp(shot).stats();
        // non-blank: the page has dark text and coloured figures on white
        assert.ok(s.channels.some((c) => c.stdev > 20), 'blank screenshot');
        assert.ok(s.channels[0]!.min < 50);
        await p.close();
      }
    } finally {
      await ctx.close();
    }
  });
});
