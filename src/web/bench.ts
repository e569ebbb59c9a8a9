/**
 * `covidnet export bench`: the web app's size, model load time and time to first prediction in
 * headless Chromium, for untrained nets of the CPU configuration (112/32/256) and the study's
 * (224/128/1024), single and siamese. A measurement, not a test: run it on a quiet machine.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CovidNetError } from '../errors.js';
import { chromiumMissing, launchChromium } from '../util/browser.js';
import { exportWeb } from './site.js';
import { makeUntrainedRun, sampleImages, staticServer } from './testing.js';

export interface WebBenchRow {
  config: string;
  model: 'single' | 'siamese';
  bytes: number;
  modelBytes: number;
  backend: string;
  /** From navigation to the model loaded and the backend chosen (the page's own clock). */
  loadSeconds: number;
  /** From choosing one image to its card (decode, preprocess, scores, trust, Grad-CAM, overlay). */
  firstSeconds: number;
  /** The same for a second image (shaders and kernels warm). */
  secondSeconds: number;
}

const CONFIGS = [
  { name: 'cpu 112/32/256', size: 112, width: 32, fc: 256 },
  { name: 'study 224/128/1024', size: 224, width: 128, fc: 1024 },
] as const;

export async function benchWeb(opts: { backend?: string | undefined } = {}): Promise<WebBenchRow[]> {
  const missing = chromiumMissing();
  if (missing) throw new CovidNetError('E_OPTION', `export bench needs Chromium: ${missing}`);
  const dir = await mkdtemp(join(tmpdir(), 'covidnet-web-bench-'));
  const rows: WebBenchRow[] = [];
  try {
    const { files } = await sampleImages(dir, 2);
    const ctx = await launchChromium(join(dir, 'chromium'));
    try {
      for (const c of CONFIGS) {
        for (const model of ['single', 'siamese'] as const) {
          const run = await makeUntrainedRun(dir, model, { size: c.size, width: c.width, fc: c.fc });
          const site = join(dir, `site-${model}-${c.size}`);
          const r = await exportWeb({ run, out: site });
          const srv = await staticServer(site);
          const p = await ctx.newPage();
          try {
            await p.goto(srv.url + (opts.backend ? `?backend=${encodeURIComponent(opts.backend)}` : ''), { waitUntil: 'load' });
            await p.waitForSelector('html[data-ready]', { timeout: 300_000 });
            const loadSeconds = Number(await p.getAttribute('html', 'data-load-seconds'));
            const backend = (await p.getAttribute('html', 'data-backend')) ?? '?';
            const timeOne = async (file: string, k: number): Promise<number> => {
              const t0 = Date.now();
              await p.setInputFiles('#files', [file]);
              await p.waitForFunction((n) => document.querySelectorAll('[data-predicted], .card.err').length >= n, k, { timeout: 300_000 });
              return (Date.now() - t0) / 1000;
            };
            const firstSeconds = await timeOne(files[0]!, 1);
            const secondSeconds = await timeOne(files[1]!, 2);
            const modelBytes = r.files.filter((f) => f.name.startsWith('model/')).reduce((a, f) => a + f.bytes, 0);
            rows.push({ config: c.name, model, bytes: r.bytes, modelBytes, backend, loadSeconds, firstSeconds, secondSeconds });
          } finally {
            await p.close();
            await srv.close();
          }
        }
      }
    } finally {
      await ctx.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return rows;
}
