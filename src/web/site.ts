/**
 * The static web app of a run (`covidnet export web`, and what `covidnet serve` serves): the page,
 * the bundled script, the run's TF.js model and weights, preprocess.json, templates.json (siamese),
 * ood.json / calibration.json where the run has them, the wasm backend's binaries and a notice of
 * the licences. Everything the page loads is in the site, at relative URLs.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { CovidNetError } from '../errors.js';
import { RESEARCH_NOTICE } from '../types.js';
import { readPreprocess, readRunConfig, RUN_FILES } from '../run/files.js';
import { scoreKindOf } from '../run/scorer.js';
import { colormapTable } from '../explain/colormap.js';
import { appBundle } from './bundle.js';
import { APP_CSS, indexHtml } from './page.js';
import { SITE_FILES, type SiteInfo } from './site-info.js';

export interface SiteFile {
  /** Path inside the site, `/`-separated. */
  name: string;
  data: Buffer;
  type: string;
}

/** The wasm backend's binaries (plain, SIMD, threaded SIMD; the threaded one needs cross-origin isolation, which a plain static server does not give, so TF.js picks SIMD). */
export const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'] as const;

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  json: 'application/json; charset=utf-8',
  txt: 'text/plain; charset=utf-8',
  wasm: 'application/wasm',
  bin: 'application/octet-stream',
};

export function contentType(name: string): string {
  return TYPES[name.slice(name.lastIndexOf('.') + 1)] ?? 'application/octet-stream';
}

function file(name: string, data: Buffer | string): SiteFile {
  return { name, data: typeof data === 'string' ? Buffer.from(data, 'utf8') : data, type: contentType(name) };
}

function wasmDir(): string {
  return dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'));
}

async function readRunFile(run: string, name: string): Promise<Buffer> {
  try {
    return await readFile(join(run, name));
  } catch (e) {
    throw new CovidNetError('E_RUN', `cannot read ${name} of the run`, { file: join(run, name), cause: e });
  }
}

/** All files of the site of `run`, in memory. */
export async function siteFiles(run: string): Promise<SiteFile[]> {
  const config = await readRunConfig(run);
  const pre = await readPreprocess(run);
  const has = {
    templates: pre.model === 'siamese' && existsSync(join(run, RUN_FILES.templates)),
    ood: existsSync(join(run, SITE_FILES.ood)),
    calibration: existsSync(join(run, SITE_FILES.calibration)),
  };
  const info: SiteInfo = {
    run: basename(resolve(run)),
    model: pre.model,
    size: pre.size,
    crop: pre.crop,
    // a siamese run scores every class of its templates (added ones too)
    classes: has.templates ? ((JSON.parse((await readRunFile(run, RUN_FILES.templates)).toString('utf8')) as { classes?: string[] }).classes ?? pre.classes) : pre.classes,
    scores: scoreKindOf(pre.model),
    notice: RESEARCH_NOTICE,
    evalBatch: config.evalBatch ?? 32,
    colormap: Array.from(await colormapTable('inferno')),
    has,
  };
  const files: SiteFile[] = [file(SITE_FILES.index, indexHtml(info)), file(SITE_FILES.css, APP_CSS), file(SITE_FILES.info, JSON.stringify(info))];
  // the run's own files, byte for byte: the page parses and checks them with the library's code
  files.push(file(SITE_FILES.preprocess, await readRunFile(run, RUN_FILES.preprocess)));
  if (has.templates) files.push(file(SITE_FILES.templates, await readRunFile(run, RUN_FILES.templates)));
  if (has.ood) files.push(file(SITE_FILES.ood, await readRunFile(run, SITE_FILES.ood)));
  if (has.calibration) files.push(file(SITE_FILES.calibration, await readRunFile(run, SITE_FILES.calibration)));
  const modelJson = await readRunFile(run, SITE_FILES.model);
  files.push(file(SITE_FILES.model, modelJson));
  let manifest: { paths: string[] }[];
  try {
    manifest = (JSON.parse(modelJson.toString('utf8')) as { weightsManifest: { paths: string[] }[] }).weightsManifest;
  } catch (e) {
    throw new CovidNetError('E_RUN', 'model/model.json is not valid JSON', { file: join(run, SITE_FILES.model), cause: e });
  }
  for (const p of manifest.flatMap((g) => g.paths)) {
    if (!/^[\w.-]+$/.test(p)) throw new CovidNetError('E_RUN', `model/model.json names a weights file outside model/ (${JSON.stringify(p).slice(0, 80)})`, { file: join(run, SITE_FILES.model) });
    files.push(file(`model/${p}`, await readRunFile(run, `model/${p}`)));
  }
  const bundle = await appBundle();
  files.push(file(SITE_FILES.script, bundle.js));
  for (const w of WASM_FILES) files.push(file(w, await readFile(join(wasmDir(), w))));
  files.push(file(SITE_FILES.notice, noticeText(bundle.packages)));
  return files;
}

function noticeText(packages: readonly { name: string; version: string; license: string }[]): string {
  return [
    `covidnet web app. ${RESEARCH_NOTICE}`,
    '',
    'covidnet is MIT licensed. app.js and the .wasm files contain these packages under their own licences:',
    ...packages.map((p) => `  ${p.name} ${p.version}: ${p.license}`),
    '  (the .wasm files: @tensorflow/tfjs-backend-wasm, Apache-2.0, with XNNPACK, BSD-3-Clause)',
    '',
    'The model and its run files are the run\'s own: check the licences of the data it was trained on before sharing this site.',
    '',
  ].join('\n');
}

export interface ExportWebResult {
  out: string;
  files: { name: string; bytes: number }[];
  bytes: number;
}

/** Write the site of `run` into folder `out` (created; existing files of the same names are replaced). */
export async function exportWeb(opts: { run: string; out: string }): Promise<ExportWebResult> {
  const out = resolve(opts.out);
  const files = await siteFiles(opts.run);
  for (const f of files) {
    const dest = join(out, ...f.name.split('/'));
    await mkdir(dirname(dest), { recursive: true });
    await writeFile(dest, f.data);
  }
  const list = files.map((f) => ({ name: f.name, bytes: f.data.length }));
  return { out, files: list, bytes: list.reduce((a, f) => a + f.bytes, 0) };
}
