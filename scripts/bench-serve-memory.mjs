#!/usr/bin/env node
/**
 * Peak memory of `covidnet serve` under many concurrent large uploads (docs/serve.md).
 *
 *   node scripts/bench-serve-memory.mjs [--run RUN] [--uploads 20] [--mib 60] [--body image|random] [--json]
 *
 * The server runs in a child process (started the way `covidnet serve` starts it); this process
 * sends `--uploads` uploads of `--mib` MiB each at once and reports the server's resident memory:
 * after start-up, and its peak (the kernel's VmHWM, so nothing between samples is missed).
 * Bodies: `image` (default), a real chest X-ray PNG from ../shared/data/cxr-mini (a generated one
 * without it) padded to the size with a private ancillary chunk, so each one is decoded and
 * explained; `random`, bytes that are no image. Without --run, a run of the CPU-size network
 * (untrained; memory does not depend on the weights' values) is generated in a temporary folder.
 * Needs `make build` (dist/).
 */
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => pathToFileURL(path.join(repo, 'dist', p)).href;

function vm(field) {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : process.memoryUsage().rss;
}

if (process.argv[2] === '--serve') {
  // the child: the server, reporting its memory on request
  const { startServer } = await import(dist('serve/index.js'));
  const s = await startServer({ run: process.argv[3], port: 0 });
  let max = vm('VmRSS');
  const timer = setInterval(() => (max = Math.max(max, vm('VmRSS'))), 10);
  process.on('message', async (m) => {
    if (m === 'memory') process.send({ rss: vm('VmRSS'), hwm: vm('VmHWM'), sampled: max });
    if (m === 'stop') {
      clearInterval(timer);
      await s.close();
      process.exit(0);
    }
  });
  process.send({ url: s.url, rss: vm('VmRSS'), hwm: vm('VmHWM') });
} else {
  const { values: o } = parseArgs({ options: { run: { type: 'string' }, uploads: { type: 'string', default: '20' }, mib: { type: 'string', default: '60' }, body: { type: 'string', default: 'image' }, json: { type: 'boolean' } } });
  const uploads = Number(o.uploads);
  const bytes = Math.round(Number(o.mib) * 1024 * 1024);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'covidnet-serve-mem-'));
  try {
    let run = o.run;
    if (!run) {
      const { makeTinyRun } = await import(dist('report/testing.js'));
      const { covidNet, disposeModel, CPU_MODEL } = await import(dist('model/index.js'));
      const { saveModel } = await import(dist('run/modelio.js'));
      ({ run } = await makeTinyRun(tmp, { size: CPU_MODEL.size }));
      const model = covidNet({ ...CPU_MODEL, seed: 1 });
      rmSync(path.join(run, 'model'), { recursive: true, force: true });
      await saveModel(model, path.join(run, 'model'));
      disposeModel(model);
    }
    const body = o.body === 'random' ? randomBody(bytes) : await imageBody(bytes);
    const child = fork(fileURLToPath(import.meta.url), ['--serve', run], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const next = () => new Promise((resolve) => child.once('message', resolve));
    const started = await next();
    // one small image first: the model's first run allocates its working memory (not the uploads')
    const small = await imageBody(0);
    const warm = await post(started.url, small);
    child.send('memory');
    const warmed = await next();
    const t0 = performance.now();
    const results = await Promise.all(Array.from({ length: uploads }, () => post(started.url, body)));
    const seconds = (performance.now() - t0) / 1000;
    child.send('memory');
    const mem = await next();
    child.send('stop');
    await new Promise((r) => child.once('exit', r));
    const statuses = {};
    for (const r of results) statuses[r] = (statuses[r] ?? 0) + 1;
    const MB = (b) => Math.round(b / 1e6);
    const report = { uploads, mib: Number(o.mib), body: o.body, run: o.run ?? 'generated (CPU_MODEL)', statuses, seconds: Math.round(seconds * 10) / 10, rss_start_mb: MB(started.rss), rss_warm_mb: MB(warmed.rss), warm_status: warm, rss_peak_mb: MB(mem.hwm), rss_end_mb: MB(mem.rss) };
    if (o.json) console.log(JSON.stringify(report));
    else console.log(`${uploads} concurrent uploads of ${o.mib} MiB (${o.body}): answers ${Object.entries(statuses).map(([k, v]) => `${v}×${k}`).join(', ')} in ${report.seconds} s; server RSS ${report.rss_start_mb} MB after start, ${report.rss_warm_mb} MB after one small image, peak ${report.rss_peak_mb} MB, ${report.rss_end_mb} MB after`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function randomBody(n) {
  const b = Buffer.allocUnsafe(n);
  let x = 0x9e3779b9;
  for (let i = 0; i < n; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeUInt32LE(x >>> 0, Math.min(i, n - 4));
  }
  b[0] = 0; // never a PNG/JPEG/DICOM signature
  return b;
}

/** The largest PNG of cxr-mini (or a generated one), padded to `n` bytes with a private ancillary chunk. */
async function imageBody(n) {
  const { pngChunk, testPattern } = await import(dist('data/testing.js'));
  let png;
  const root = path.resolve(repo, '../shared/data/cxr-mini/images');
  try {
    const files = readdirSync(root, { recursive: true }).map((f) => path.join(root, String(f))).filter((f) => f.toLowerCase().endsWith('.png'));
    png = readFileSync(files.sort((a, b) => statSync(b).size - statSync(a).size)[0]);
  } catch {
    const { default: sharp } = await import('sharp');
    png = await sharp(testPattern(1024, 1024, 1), { raw: { width: 1024, height: 1024, channels: 1 } }).png().toBuffer();
  }
  // the chunk after IHDR (8-byte signature + 25-byte IHDR): decoders skip unknown ancillary chunks
  return Buffer.concat([png.subarray(0, 33), pngChunk('prVt', Buffer.alloc(Math.max(0, n - png.length - 12), 7)), png.subarray(33)]);
}

function post(url, body) {
  return new Promise((resolve) => {
    const u = new URL(url);
    const req = http.request({ host: u.hostname, port: u.port, method: 'POST', path: '/api/explain', headers: { 'content-length': body.length, 'x-file-name': 'big.png' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', (e) => resolve(e.code ?? 'error'));
    req.end(body);
  });
}
