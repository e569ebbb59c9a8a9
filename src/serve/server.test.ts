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
import { chromiumMissing, launchChromium, waitForOrSay, watchPage } from '../util/browser.js';

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
    assert.ok((CLASSES as readonly string[]).includes(r.predicted));
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
    const { errors, outside } = watchPage(p, s.url);
    await p.goto(s.url, { waitUntil: 'load' });
    await waitForOrSay(p, 'html[data-ready]', 60_000, errors);
    await p.setInputFiles('#files', [images[0]!, join(dir, 'run', 'config.json')]);
    await waitForOrSay(p, '.card .pred', 90_000, errors);
    await waitForOrSay(p, '.card.err', 90_000, errors);
    const pred = await p.textContent('.card .pred');
    assert.ok(CLASSES.some((c) => c === pred), `predicted class shown: ${pred}`);
    // the overlay is a data URL the browser decodes after the card appears: wait for it, not race it
    const ok = await p
      .waitForFunction(() => {
        const img = document.querySelector('.card img') as unknown as { complete: boolean; naturalWidth: number } | null;
        return img !== null && img.complete && img.naturalWidth > 0;
      }, undefined, { timeout: 30_000 })
      .then(() => true, () => false);
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

/** One raw request with node:http (fetch cannot send every header, and hides resets). */
function rawRequest(
  url: string,
  opts: { method?: string; path?: string; headers?: Record<string, string>; body?: Buffer | ((req: import('node:http').ClientRequest) => Promise<void>) },
): Promise<{ status: number; headers: import('node:http').IncomingHttpHeaders; body: string }> {
  return import('node:http').then(
    (http) =>
      new Promise((resolve, reject) => {
        const u = new URL(url);
        const req = http.request({ host: u.hostname, port: u.port, method: opts.method ?? 'GET', path: opts.path ?? '/', headers: opts.headers ?? {} }, (res) => {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => parts.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString('utf8') }));
          res.on('error', reject);
        });
        req.on('error', reject);
        if (typeof opts.body === 'function') opts.body(req).catch(reject);
        else req.end(opts.body);
      }),
  );
}

const json = (r: { body: string }): { code: string; error: string } => JSON.parse(r.body) as { code: string; error: string };

test('serve: hostile requests get clean answers (Origin, HEAD, frame-ancestors, bad x-file-name, chunked 413, pixel bombs, odd targets)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'covidnet-serve-hostile-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { run, images } = await makeTinyRun(dir);
  const s = await startServer({ run, port: 0, maxBytes: 200_000 });
  const host = new URL(s.url).host;
  try {
    const bytes = await readFile(images[0]!);
    // Origin: a foreign page may not post here; the page itself (same origin) may
    for (const origin of ['http://evil.example', 'null', `http://${host}.evil.example`, 'http://127.0.0.1:1']) {
      const r = await rawRequest(s.url, { method: 'POST', path: '/api/explain', headers: { origin, 'content-type': 'application/octet-stream' }, body: bytes });
      assert.equal(r.status, 403, origin);
      assert.equal(json(r).code, 'E_ORIGIN');
    }
    const same = await rawRequest(s.url, { method: 'POST', path: '/api/explain', headers: { origin: `http://${host}` }, body: bytes });
    assert.equal(same.status, 200, same.body);

    // HEAD: as GET without a body; no framing by other sites
    for (const path of ['/', '/api/info']) {
      const h = await rawRequest(s.url, { method: 'HEAD', path });
      assert.equal(h.status, 200, path);
      assert.equal(h.body, '');
      assert.ok(Number(h.headers['content-length']) > 0);
      assert.match(String(h.headers['content-security-policy']), /frame-ancestors 'none'/);
      assert.equal(h.headers['x-frame-options'], 'DENY');
    }

    // a malformed x-file-name is the client's error (400), not ours (500); names are never paths
    const badName = await rawRequest(s.url, { method: 'POST', path: '/api/explain', headers: { 'x-file-name': '%E0%A4%A' }, body: bytes });
    assert.equal(badName.status, 400);
    assert.equal(json(badName).code, 'E_REQUEST');
    const winName = await rawRequest(s.url, { method: 'POST', path: '/api/explain', headers: { 'x-file-name': encodeURIComponent('C:\\Users\\x\\scan\u0007.png') }, body: bytes });
    assert.equal((JSON.parse(winName.body) as ExplainResponse).file, 'scan_.png');

    // a chunked upload over the limit is answered with 413 while the client is still sending
    const chunked = await rawRequest(s.url, {
      method: 'POST',
      path: '/api/explain',
      headers: { 'transfer-encoding': 'chunked' },
      body: async (req) => {
        for (let i = 0; i < 20; i++) {
          if (req.destroyed) return;
          req.write(Buffer.alloc(32_768, i));
          await new Promise((r) => setTimeout(r, 5));
        }
        req.end();
      },
    });
    assert.equal(chunked.status, 413);
    assert.equal(json(chunked).code, 'E_TOO_LARGE');

    // decompression bomb: a 10 000 x 10 000 PNG of ~100 KB is refused from its header (413)
    const rows = Buffer.alloc(10_000 * 10_001);
    const { deflateSync } = await import('node:zlib');
    const { pngChunk } = await import('../data/testing.js');
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(10_000, 0);
    ihdr.writeUInt32BE(10_000, 4);
    ihdr[8] = 8;
    const bomb = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(rows, { level: 9 })), pngChunk('IEND', Buffer.alloc(0))]);
    assert.ok(bomb.length < 200_000, `bomb is ${bomb.length} bytes`);
    const b = await rawRequest(s.url, { method: 'POST', path: '/api/explain', body: bomb });
    assert.equal(b.status, 413, b.body);
    assert.match(json(b).error, /10000x10000 pixels is over the 40 megapixel limit/);

    // odd request targets and methods: 4xx with our JSON, never 500
    for (const [method, path, status] of [['GET', '//evil.example/api/info', 404], ['OPTIONS', '/api/explain', 405], ['DELETE', '/', 404], ['GET', '/api/explain?target=%ZZ', 405]] as const) {
      const r = await rawRequest(s.url, { method, path });
      assert.equal(r.status, status, `${method} ${path}`);
      assert.ok(json(r).code.startsWith('E_'));
    }
  } finally {
    await s.close();
  }
});

test('serve: work in flight is bounded: one upload read at a time, a queue of `queue`, 503 beyond it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'covidnet-serve-queue-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { run, images } = await makeTinyRun(dir);
  const s = await startServer({ run, port: 0, queue: 1 });
  try {
    const bytes = await readFile(images[0]!);
    // the first upload holds the slot while it is being sent
    let finish!: () => void;
    const sending = new Promise<void>((r) => (finish = r));
    const first = rawRequest(s.url, {
      method: 'POST',
      path: '/api/explain',
      headers: { 'content-length': String(bytes.length) },
      body: async (req) => {
        req.write(bytes.subarray(0, 100));
        await sending;
        req.end(bytes.subarray(100));
      },
    });
    await new Promise((r) => setTimeout(r, 200));
    const second = rawRequest(s.url, { method: 'POST', path: '/api/explain', body: bytes }); // waits
    await new Promise((r) => setTimeout(r, 200));
    const third = await rawRequest(s.url, { method: 'POST', path: '/api/explain', body: bytes }); // refused
    assert.equal(third.status, 503);
    assert.equal(json(third).code, 'E_BUSY');
    assert.equal(third.headers['retry-after'], '2');
    // pages and info are not queued
    assert.equal((await rawRequest(s.url, { path: '/api/info' })).status, 200);
    finish();
    assert.equal((await first).status, 200);
    assert.equal((await second).status, 200);
    // once done, there is room again
    assert.equal((await rawRequest(s.url, { method: 'POST', path: '/api/explain', body: bytes })).status, 200);
  } finally {
    await s.close();
  }
  await assert.rejects(startServer({ run, port: 0, queue: -1 }), { code: 'E_OPTION' });
  await assert.rejects(startServer({ run, port: 0, maxPixels: 0 }), { code: 'E_OPTION' });
});
