import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '../tf.js';
import { makeTinyRun } from '../report/testing.js';
import { isCovidNetError } from '../errors.js';
import { CLASSES, RESEARCH_NOTICE } from '../types.js';
import { isLoopback, startServer, type ExplainResponse } from './server.js';
import type { RunInfo } from './run-info.js';
import { chromiumMissing, launchChromium } from '../util/browser.js';

test('serve: page, run info, explain an upload; bad uploads, hosts and routes get JSON errors', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'covidnet-serve-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { run, images } = await makeTinyRun(dir);
  const before = tf.memory().numTensors;
  const s = await startServer({ run, port: 0, maxBytes: 200_000 });
  try {
    assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await fetch(s.url);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    const html = await page.text();
    assert.ok(html.includes(RESEARCH_NOTICE) && html.includes('Drop chest X-ray images here'));

    const info = (await (await fetch(`${s.url}api/info`)).json()) as RunInfo;
    assert.deepEqual({ model: info.model, size: info.size, scores: info.scores }, { model: 'single', size: 64, scores: 'probability' });

    const bytes = await readFile(images[0]!);
    const res = await fetch(`${s.url}api/explain?target=pneumonia`, { method: 'POST', body: bytes, headers: { 'x-file-name': encodeURIComponent('../a b.png') } });
    assert.equal(res.status, 200);
    const r = (await res.json()) as ExplainResponse;
    assert.equal(r.file, 'a b.png'); // no path from the client is kept
    assert.equal(r.target, 'pneumonia');
    assert.ok(CLASSES.includes(r.predicted));
    const sum = CLASSES.reduce((a, c) => a + r.scores[c], 0);
    assert.ok(Math.abs(sum - 1) < 1e-3, `probabilities sum to ${sum}`);
    assert.deepEqual([r.width, r.height], [90, 80]);
    assert.match(r.overlay, /^data:image\/png;base64,iVBORw0KGgo/);
    assert.equal(r.notice, RESEARCH_NOTICE);

    const bad = async (path: string, init: RequestInit, status: number, code: string): Promise<void> => {
      const b = await fetch(`${s.url}${path}`, init);
      assert.equal(b.status, status, `${path}: status`);
      const j = (await b.json()) as { code: string; error: string };
      assert.equal(j.code, code, `${path}: ${j.error}`);
      assert.ok(j.error.length > 0);
    };
    await bad('api/explain', { method: 'POST', body: 'this is not an image' }, 400, 'E_FORMAT_UNKNOWN');
    await bad('api/explain', { method: 'POST', body: bytes.subarray(0, 60) }, 400, 'E_FILE_TRUNCATED');
    await bad('api/explain', { method: 'POST', body: new Uint8Array(300_000) }, 413, 'E_TOO_LARGE');
    await bad('api/explain?contrast=normal', { method: 'POST', body: bytes }, 400, 'E_OPTION');
    await bad('api/explain?target=flu', { method: 'POST', body: bytes }, 400, 'E_OPTION');
    await bad('api/explain', { method: 'GET' }, 405, 'E_METHOD');
    await bad('nothing-here', {}, 404, 'E_NOT_FOUND');
    // DNS rebinding: a foreign Host header is refused while we serve loopback only
    const http = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      http.get(`${s.url}api/info`, { headers: { host: 'evil.example' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
    assert.equal(status, 403);
    // the same port twice: a clear option error
    await assert.rejects(startServer({ run, port: Number(new URL(s.url).port) }), (e: unknown) => isCovidNetError(e) && e.code === 'E_OPTION' && /--port/.test(e.message));
  } finally {
    await s.close();
  }
  assert.equal(tf.memory().numTensors, before, 'tensors leaked by the server');
  assert.ok(isLoopback('127.0.0.1') && isLoopback('::1') && !isLoopback('0.0.0.0') && !isLoopback('192.168.1.2'));
});

test('serve: the page in a browser shows a prediction with its overlay for a chosen file', async (t) => {
  const missing = chromiumMissing();
  if (missing) {
    t.skip(missing);
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'covidnet-serve-ui-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { run, images } = await makeTinyRun(dir);
  const s = await startServer({ run, port: 0 });
  const ctx = await launchChromium(join(dir, 'chromium-profile'));
  try {
    const p = await ctx.newPage();
    const errors: string[] = [];
    const outside: string[] = [];
    p.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    p.on('pageerror', (e) => errors.push(e.message));
    p.on('request', (req) => {
      if (!req.url().startsWith(s.url) && !req.url().startsWith('data:')) outside.push(req.url());
    });
    await p.goto(s.url, { waitUntil: 'load' });
    await p.setInputFiles('#files', [images[0]!, join(dir, 'run', 'config.json')]);
    await p.waitForSelector('.card .pred', { timeout: 20_000 });
    await p.waitForSelector('.card.err', { timeout: 20_000 });
    const pred = await p.textContent('.card .pred');
    assert.ok(CLASSES.some((c) => c === pred), `predicted class shown: ${pred}`);
    const ok = await p.$eval('.card img', (e) => {
      const img = e as unknown as { complete: boolean; naturalWidth: number };
      return img.complete && img.naturalWidth > 0;
    });
    assert.ok(ok, 'overlay image loaded');
    const err = await p.textContent('.card.err');
    assert.match(err ?? '', /config\.json[\s\S]*E_FORMAT_UNKNOWN/);
    assert.deepEqual(errors.filter((e) => !/status of 400/.test(e)), []);
    assert.deepEqual(outside, [], 'the page loaded something from elsewhere');
    if (process.env['COVIDNET_SERVE_SCREENSHOT']) await p.screenshot({ path: process.env['COVIDNET_SERVE_SCREENSHOT'], fullPage: true });
  } finally {
    await ctx.close();
    await s.close();
  }
});
