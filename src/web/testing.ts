/**
 * Test and benchmark helpers for the web app: a plain static file server (no special headers, as
 * any static server), tiny siamese runs, and a sample of cxr-mini (or generated images). Not exported.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import sharp from 'sharp';
import * as tf from '../tf.js';
import { disposeModel, siameseCovidNet, covidNet } from '../model/index.js';
import { saveModel } from '../run/modelio.js';
import { CLASSES, type ModelKind } from '../types.js';
import { cxrMiniPath } from '../data/testing.js';
import { contentType } from './site.js';

/** Serve `root` on 127.0.0.1 (any free port) with a content type and nothing else. */
export async function staticServer(root: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const rel = normalize(path === '/' ? '/index.html' : path).replace(/^[/\\]+/, '');
    if (rel.split(sep).includes('..')) {
      res.writeHead(403).end();
      return;
    }
    readFile(join(root, rel)).then(
      (data) => res.writeHead(200, { 'content-type': contentType(rel) }).end(data),
      () => res.writeHead(404).end('not found'),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((r) => server.close(() => r())) };
}

/** An untrained but complete run folder of either net (model, preprocess, config; siamese: templates). */
export async function makeUntrainedRun(dir: string, model: ModelKind, opts: { size: number; width: number; fc: number; crop?: number; seed?: number }): Promise<string> {
  const run = join(dir, `run-${model}-${opts.size}`);
  await mkdir(run, { recursive: true });
  const cfg = { size: opts.size, width: opts.width, fc: opts.fc, seed: opts.seed ?? 1 };
  const net = model === 'single' ? covidNet(cfg) : siameseCovidNet(cfg);
  await saveModel(net, join(run, 'model'));
  disposeModel(net);
  tf.disposeVariables();
  const crop = opts.crop ?? 0.1;
  const json = (name: string, v: unknown) => writeFile(join(run, name), JSON.stringify(v, null, 1));
  await json('preprocess.json', { model, size: opts.size, crop, mean: 0.5, std: 0.25, classes: CLASSES });
  await json('config.json', {
    model, recipe: 'study', data: dir, out: run, size: opts.size, width: opts.width, fc: opts.fc, crop, epochs: 1, batch: 8, lr: 1e-3, pairs: 100,
    valFraction: 0.2, testFraction: 0.2, oneShotTrials: 9, seed: 1, evalBatch: 8, dataRoot: dir, dataName: 'data', dataHash: 'x',
    backendUsed: 'cpu', versions: {}, createdAt: '2026-01-01T00:00:00.000Z',
  });
  if (model === 'siamese') {
    // seeded pseudo-embeddings: the scores only need templates that differ
    let s = opts.seed ?? 1;
    const rnd = () => ((s = (s * 16807) % 2147483647) / 2147483647) * 0.2 - 0.1;
    await json('templates.json', { classes: CLASSES, templates: CLASSES.map(() => Array.from({ length: 256 }, rnd)), counts: [1, 1, 1] });
  }
  return run;
}

/**
 * `n` images: cxr-mini's (PNG and JPEG mixed, in labels.csv order, every k-th) when the folder is
 * there, else generated PNG and JPEG patterns in `dir`.
 */
export async function sampleImages(dir: string, n: number): Promise<{ files: string[]; source: string }> {
  const mini = await cxrMiniPath();
  if (mini) {
    const rows = (await readFile(join(mini, 'labels.csv'), 'utf8')).trim().split('\n').slice(1).map((l) => l.split(',')[0]!);
    const png = rows.filter((f) => /\.png$/i.test(f));
    const jpg = rows.filter((f) => /\.jpe?g$/i.test(f));
    const pick = (a: string[], k: number) => Array.from({ length: k }, (_, i) => a[Math.floor((i * a.length) / k)]!);
    const nj = Math.min(jpg.length, Math.floor(n / 3));
    return { files: [...pick(png, n - nj), ...pick(jpg, nj)].map((f) => join(mini, f)), source: mini };
  }
  await mkdir(join(dir, 'images'), { recursive: true });
  const files: string[] = [];
  for (let k = 0; k < n; k++) {
    const w = 120 + 7 * k;
    const h = 100 + 5 * k;
    const px = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) px[y * w + x] = (Math.round(128 + 100 * Math.sin((x + k * 13) / 9) * Math.cos(y / 11)) + k) & 255;
    const f = join(dir, 'images', `g${k}${k % 3 === 2 ? '.jpg' : '.png'}`);
    const img = sharp(px, { raw: { width: w, height: h, channels: 1 } });
    await (extname(f) === '.jpg' ? img.jpeg({ quality: 90 }) : img.png()).toFile(f);
    files.push(f);
  }
  return { files, source: 'generated' };
}
