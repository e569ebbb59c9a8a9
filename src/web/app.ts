/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The web app (browser entry of the bundle, see ./bundle.ts): loads the exported run (model,
 * preprocess.json, templates, trust files), chooses a backend (WebGL on a GPU, else wasm, else cpu), and
 * explains the images a person chooses or drops, all in the page. The maths is the library's:
 * preprocessing (src/data), scoring (RunScorer), Grad-CAM and its geometry (src/explain), trust
 * (src/trust); only decoding PNG/JPEG is the browser's own (./decode-browser.ts).
 *
 * Each result card carries data-file, data-predicted, data-scores (JSON class → raw score) and
 * data-peak (JSON {x, y} or null) for scripts and tests; the document root carries data-backend
 * and data-ready once the model is loaded.
 */
import * as tf from '../tf.js';
import '@tensorflow/tfjs-backend-webgl';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { CovidNetError, isCovidNetError } from '../errors.js';
import { RESEARCH_NOTICE, type ClassName } from '../types.js';
import { preprocessImage } from '../data/preprocess.js';
import { floatToU8 } from '../data/gray.js';
import { RunScorer } from '../run/scorer.js';
import type { PreprocessInfo, SavedConfig, TemplatesFile } from '../run/files.js';
import { loadModelFrom } from '../run/artifacts.js';
import { GradCam } from '../explain/gradcam.js';
import { explainImages, type Explained } from '../explain/core.js';
import { overlayPixels } from '../explain/composite.js';
import { DEFAULT_BORDER_BAND } from '../explain/stats.js';
import { HEAT_METHOD_LABEL } from '../explain/methods.js';
import { SITE_FILES, type SiteInfo } from './site-info.js';
import { decodeInBrowser } from './decode-browser.js';

interface Loaded {
  info: SiteInfo;
  scorer: RunScorer;
  cam: GradCam;
  backend: string;
  /** The run's colour map (256 RGB triples) for the overlays. */
  lut: Uint8Array;
}

async function fetchJson(name: string): Promise<unknown> {
  const res = await fetch(name, { cache: 'no-store' });
  if (!res.ok) throw new CovidNetError('E_RUN', `${name} is missing from the site (HTTP ${res.status})`, { file: name });
  return res.json() as Promise<unknown>;
}

/** Optional run files: the JSON, or the CovidNetError saying why there is none (RunScorer reports it). */
async function optionalJson(name: string, present: boolean): Promise<unknown> {
  if (!present) return new CovidNetError('E_RUN', `${name} is missing (the run has none: covidnet ood fit --run RUN writes the trust files)`, { file: name });
  try {
    return await fetchJson(name);
  } catch (e) {
    return isCovidNetError(e) ? e : new CovidNetError('E_RUN', `${name} cannot be read`, { file: name, cause: e });
  }
}

/**
 * The WebGL renderer when it is a software rasteriser (SwiftShader, llvmpipe: no GPU), else
 * undefined. Measured in headless Chromium (docs/web.md): there WebGL is 10–20× slower than wasm.
 */
function softwareWebGl(): string | undefined {
  try {
    const gl = document.createElement('canvas').getContext('webgl');
    if (!gl) return undefined;
    const ext = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
    return /swiftshader|llvmpipe|softpipe|software|basic render/i.test(renderer) ? renderer : undefined;
  } catch {
    return undefined;
  }
}

/**
 * WebGL where it works on a GPU, wasm otherwise, cpu last; `?backend=NAME` forces one (tests,
 * comparisons). A backend counts as working when it runs a small matmul and gives the right answer.
 */
async function chooseBackend(): Promise<{ name: string; failures: string[] }> {
  const forced = new URLSearchParams(location.search).get('backend');
  const failures: string[] = [];
  const soft = forced ? undefined : softwareWebGl();
  if (soft) failures.push(`webgl: software renderer (${soft}), slower than wasm`);
  const order = forced ? [forced] : soft ? ['wasm', 'webgl', 'cpu'] : ['webgl', 'wasm', 'cpu'];
  // the .wasm files lie next to the page (relative: works under any path prefix)
  setWasmPaths(new URL('./', location.href).href);
  for (const name of order) {
    try {
      if (!(await tf.setBackend(name))) throw new Error('not available');
      await tf.ready();
      const v = tf.tidy(() => tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([1, 0, 0, 1], [2, 2])).dataSync());
      if (Array.from(v).join() !== '1,2,3,4') throw new Error('wrong result of a test product');
      return { name, failures };
    } catch (e) {
      failures.push(`${name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  throw new CovidNetError('E_BACKEND', `no TF.js backend works in this browser (${failures.join('; ')})`);
}

async function load(): Promise<Loaded> {
  const info = (await fetchJson(SITE_FILES.info)) as SiteInfo;
  const preprocess = (await fetchJson(SITE_FILES.preprocess)) as PreprocessInfo;
  const templatesJson = info.model === 'siamese' ? ((await optionalJson(SITE_FILES.templates, info.has.templates)) as TemplatesFile | CovidNetError) : undefined;
  const trustJson = { ood: await optionalJson(SITE_FILES.ood, info.has.ood), calibration: await optionalJson(SITE_FILES.calibration, info.has.calibration) };
  const backend = await chooseBackend();
  const model = await loadModelFrom(tf.io.browserHTTPRequest(SITE_FILES.model), SITE_FILES.model, { inference: true });
  // the scorer uses the run's config for its batch size only
  const config = { model: info.model, evalBatch: info.evalBatch } as SavedConfig;
  const scorer = RunScorer.fromParts({
    run: info.run,
    config,
    preprocess,
    templatesJson,
    trustJson,
    backend: { name: backend.name, fast: backend.name !== 'cpu', reason: `backend ${backend.name} (in the browser)`, failures: backend.failures.map((f) => ({ name: f.split(':')[0]!, error: f })) },
    model,
  });
  return { info, scorer, cam: GradCam.forRun(scorer), backend: backend.name, lut: Uint8Array.from(info.colormap) };
}

// ---------------------------------------------------------------- the page

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

type Props = Record<string, string | boolean | number>;
function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...kids: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'className') e.className = String(v);
    else if (k === 'textContent') e.textContent = String(v);
    else if (k === 'hidden') e.hidden = Boolean(v);
    else e.setAttribute(k, String(v));
  }
  for (const k of kids) e.append(k);
  return e;
}

const fmt = (v: number | null | undefined): string => (v === null || v === undefined ? '–' : Number(v).toFixed(3));

/** The overlay as a PNG data URL: the image scaled by the canvas, the heat map blended by the library's overlayPixels. */
function overlayUrl(r: Explained, lut: Uint8Array): string {
  const long = Math.max(r.image.width, r.image.height);
  const scale = long > 768 ? 768 / long : long < 384 ? 384 / long : 1;
  const d = { width: Math.max(1, Math.round(r.image.width * scale)), height: Math.max(1, Math.round(r.image.height * scale)) };
  const src = document.createElement('canvas');
  src.width = r.image.width;
  src.height = r.image.height;
  const sctx = src.getContext('2d')!;
  const full = sctx.createImageData(r.image.width, r.image.height);
  for (let i = 0; i < r.image.data.length; i++) {
    const v = Math.round(Math.min(1, Math.max(0, r.image.data[i]!)) * 255);
    full.data[4 * i] = full.data[4 * i + 1] = full.data[4 * i + 2] = v;
    full.data[4 * i + 3] = 255;
  }
  sctx.putImageData(full, 0, 0);
  const out = document.createElement('canvas');
  out.width = d.width;
  out.height = d.height;
  const ctx = out.getContext('2d')!;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(src, 0, 0, d.width, d.height);
  const scaled = ctx.getImageData(0, 0, d.width, d.height);
  const gray = new Uint8Array(d.width * d.height);
  for (let i = 0; i < gray.length; i++) gray[i] = scaled.data[4 * i]!;
  const rgb = overlayPixels(gray, r.cam, r.geometry, d, lut);
  for (let i = 0; i < gray.length; i++) {
    scaled.data[4 * i] = rgb[3 * i]!;
    scaled.data[4 * i + 1] = rgb[3 * i + 1]!;
    scaled.data[4 * i + 2] = rgb[3 * i + 2]!;
  }
  ctx.putImageData(scaled, 0, 0);
  if (r.peak) {
    const px = ((r.peak.x + 0.5) * d.width) / r.image.width;
    const py = ((r.peak.y + 0.5) * d.height) / r.image.height;
    ctx.strokeStyle = '#00e5ff';
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(px - 7, py);
    ctx.lineTo(px + 7, py);
    ctx.moveTo(px, py - 7);
    ctx.lineTo(px, py + 7);
    ctx.stroke();
  }
  return out.toDataURL('image/png');
}

function showError(card: HTMLElement, name: string, code: string, msg: string): void {
  card.className = 'card err';
  card.setAttribute('data-file', name);
  card.setAttribute('data-error', code);
  card.replaceChildren(el('h2', { textContent: name }), el('p', {}, el('span', { className: 'code', textContent: `[${code}] ` }), msg));
}

function showResult(card: HTMLElement, r: Explained, app: Loaded, contrast: ClassName | undefined, seconds: number): void {
  const info = app.info;
  const ood = r.in_distribution === false;
  card.className = 'card' + (ood ? ' ood' : '');
  const scores = Object.fromEntries(r.classes.map((c, j) => [c, r.scores[j]!]));
  card.setAttribute('data-file', r.file);
  card.setAttribute('data-predicted', r.predicted);
  card.setAttribute('data-scores', JSON.stringify(scores));
  card.setAttribute('data-peak', JSON.stringify(r.peak));
  card.setAttribute('data-border-mass', JSON.stringify(r.border_mass));
  card.setAttribute('data-in-distribution', JSON.stringify(r.in_distribution));
  if (r.calibrated) card.setAttribute('data-calibrated', JSON.stringify(r.calibrated));
  const url = overlayUrl(r, app.lut);
  const peakText = r.peak ? `, peak marked at x ${r.peak.x}, y ${r.peak.y}` : '';
  const img = el('img', { src: url, alt: `Grad-CAM overlay for ${r.file}: heat map of the evidence for ${r.target} on the image${peakText}` });
  const left = el('div', {}, img, el('a', { className: 'dl', href: url, download: r.file.replace(/\.[^.]*$/, '') + '-gradcam.png', textContent: `download overlay of ${r.file}` }));
  // calibrated probabilities where the run has them
  const probs: Record<string, number> = r.calibrated ?? scores;
  const what = r.calibrated ? 'calibrated probabilities' : info.scores === 'probability' ? 'probabilities' : 'similarity to class templates';
  const rows = info.classes.map((c) => {
    const v = probs[c]!;
    const fill = el('div', { className: 'fill' });
    fill.style.width = `${Math.max(0, Math.min(1, v)) * 100}%`;
    return el('div', { className: 'row' + (c === r.predicted ? ' top' : '') }, el('span', { textContent: c }),
      el('div', { className: 'track', role: 'img', 'aria-label': `${c}: ${fmt(v)}` }, fill),
      el('span', { className: 'num', textContent: fmt(v) }));
  });
  const scoreBox = el('div', {}, el('div', { className: 'bar-note', textContent: what }), ...rows);
  const pred = el('div', { className: 'pred', textContent: r.predicted });
  const dl = el('dl');
  const add = (k: string, v: string): void => void dl.append(el('dt', { textContent: k }), el('dd', { textContent: v }));
  add('distribution check', r.in_distribution === null ? 'not checked: the run has no ood.json (covidnet ood fit --run RUN)'
    : `${ood ? 'out of distribution' : 'in distribution'} (ood score ${fmt(r.ood_score)}${ood ? ' > ' : ' ≤ '}threshold ${fmt(r.ood_threshold)})`);
  add('explained', r.target + (contrast ? ` minus ${contrast}` : '') + (r.target === r.predicted ? ' (predicted)' : ''));
  add('heat-map peak', r.peak ? `x ${r.peak.x}, y ${r.peak.y} (of ${r.image.width}×${r.image.height})` : 'none: flat map, no positive evidence');
  add('heat map', `${HEAT_METHOD_LABEL[r.method]} of ${r.target}${r.versus ? ` vs ${r.versus}` : ''}`);
  add('border mass', `${fmt(r.border_mass)} (share of heat in the outer 10% band; high = look at the edges, not the lungs)`);
  add('time', `${seconds.toFixed(2)} s (${app.backend})`);
  const head: HTMLElement[] = [el('h2', { textContent: r.file })];
  if (ood) {
    // no class by default: the verdict, the score, and a button to see the class anyway (marked)
    const reveal = el('button', { type: 'button', className: 'reveal', textContent: 'show the class anyway' });
    const verdict = el('div', { className: 'verdict', role: 'status' },
      el('strong', { textContent: 'Out of distribution: no class given' }),
      el('p', { textContent: 'This image does not look like the frontal chest X-rays this run was trained on, so its class would mean nothing.' }),
      el('p', { className: 'oodscore', textContent: `ood score ${fmt(r.ood_score)} > threshold ${fmt(r.ood_threshold)}` }), reveal);
    const hidden = el('div', { hidden: true }, el('div', { className: 'marked', textContent: 'out of distribution: unreliable' }), pred, scoreBox);
    reveal.addEventListener('click', () => {
      hidden.hidden = false;
      reveal.remove();
      pred.tabIndex = -1;
      pred.focus();
    });
    head.push(verdict, hidden);
  } else {
    head.push(pred, scoreBox);
  }
  const right = el('div', {}, ...head, dl, el('p', { className: 'card-notice', textContent: RESEARCH_NOTICE }));
  card.replaceChildren(left, right);
}

async function explainFile(app: Loaded, file: File, card: HTMLElement): Promise<void> {
  const t0 = performance.now();
  card.textContent = `${file.name}: decoding, predicting, computing Grad-CAM…`;
  const target = ($<HTMLSelectElement>('target').value || undefined) as ClassName | undefined;
  const contrastSel = document.getElementById('contrast') as HTMLSelectElement | null;
  const contrast = (contrastSel?.value || undefined) as ClassName | undefined;
  try {
    if (contrast !== undefined && contrast === target) throw new CovidNetError('E_OPTION', 'contrast must differ from the class explained');
    const image = await decodeInBrowser(new Uint8Array(await file.arrayBuffer()), file.name);
    const pixels = preprocessImage(image, { size: app.scorer.preprocess.size, crop: app.scorer.preprocess.crop });
    const [r] = await explainImages(app.scorer, app.cam, DEFAULT_BORDER_BAND, [{ file: file.name, image, pixels }], { target, contrast });
    if (contrast !== undefined && r!.target === contrast) throw new CovidNetError('E_OPTION', `contrast ${contrast} is the predicted class explained: choose another class to contrast with`);
    showResult(card, r!, app, contrast, (performance.now() - t0) / 1000);
  } catch (e) {
    showError(card, file.name, isCovidNetError(e) ? e.code : 'E_DECODE', isCovidNetError(e) ? e.reason : e instanceof Error ? e.message : String(e));
  }
}

async function main(): Promise<void> {
  const status = $('status');
  const drop = $('drop');
  const input = $<HTMLInputElement>('files');
  const results = $('results');
  const t0 = performance.now();
  // the listeners go on before the model has loaded: files chosen meanwhile wait for it instead of
  // being dropped (a quick hand, or a script, can choose one while the weights still download)
  const loading: Promise<Loaded | CovidNetError> = load().then(
    (app) => {
      const loadSeconds = (performance.now() - t0) / 1000;
      status.textContent = `Model loaded in ${loadSeconds.toFixed(2)} s · backend ${app.backend}${app.scorer.trustNotes.length ? ' · ' + app.scorer.trustNotes.join('; ') : ''}`;
      document.documentElement.setAttribute('data-backend', app.backend);
      document.documentElement.setAttribute('data-load-seconds', loadSeconds.toFixed(3));
      document.documentElement.setAttribute('data-ready', 'true');
      return app;
    },
    (e: unknown) => {
      const err = isCovidNetError(e) ? e : new CovidNetError('E_INTERNAL', String(e));
      status.textContent = `The model could not be loaded: [${err.code}] ${err.message}`;
      document.documentElement.setAttribute('data-error', err.code);
      return err;
    },
  );

  let chain: Promise<unknown> = loading;
  let pending = 0;
  // newest batch on top, files of a batch in the order chosen; one image at a time (one model)
  const run = (files: File[]): void => {
    const batch = document.createDocumentFragment();
    for (const f of files) {
      const card = el('article', { className: 'card pending', textContent: `${f.name}: waiting…`, 'aria-label': `result for ${f.name}` });
      batch.append(card);
      pending++;
      document.documentElement.setAttribute('data-pending', String(pending));
      chain = chain.then(async () => {
        const app = await loading;
        if (isCovidNetError(app)) showError(card, f.name, app.code, `the model could not be loaded: ${app.reason}`);
        else await explainFile(app, f, card);
        pending--;
        document.documentElement.setAttribute('data-pending', String(pending));
      });
    }
    results.prepend(batch);
  };
  drop.addEventListener('click', () => input.click());
  drop.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      input.click();
    }
  });
  input.addEventListener('change', () => {
    run([...(input.files ?? [])]);
    input.value = '';
  });
  for (const ev of ['dragenter', 'dragover']) drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add('over'); });
  for (const ev of ['dragleave', 'drop']) drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.remove('over'); });
  drop.addEventListener('drop', (e) => run([...((e as DragEvent).dataTransfer?.files ?? [])]));
}

/**
 * For scripts and the tests (docs/web.md: decoder differences): the browser's decoding of bytes to
 * 8-bit gray, as the page does it before preprocessing.
 */
(globalThis as { covidnet?: unknown }).covidnet = {
  decodeGray8: async (bytes: number[], name: string): Promise<{ width: number; height: number; data: number[] }> => {
    const g = await decodeInBrowser(Uint8Array.from(bytes), name);
    return { width: g.width, height: g.height, data: Array.from(floatToU8(g.data)) };
  },
};

void main();
