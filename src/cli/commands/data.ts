/**
 * `covidnet data inspect SRC` (what a source holds, what cannot be read) and
 * `covidnet data bench SRC` (decode + preprocess throughput, optionally against a Python loop).
 * Thin layer over src/data; heavy modules are imported inside the actions.
 */
import type { Command } from 'commander';
import { optionError } from '../../errors.js';
import { CLASSES, type ClassName } from '../../types.js';

/** A progress reporter on stderr: a cli-progress bar on a terminal, nothing when piped or with --json. */
export async function progress(label: string, quiet: boolean): Promise<{ update: (done: number, total: number) => void; stop: () => void }> {
  if (quiet || !process.stderr.isTTY) return { update: () => undefined, stop: () => undefined };
  const { default: cliProgress } = await import('cli-progress');
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {value}/{total} | {rate}/s | ETA {eta_formatted}`, etaBuffer: 50, clearOnComplete: true, stream: process.stderr },
    cliProgress.Presets.shades_classic,
  );
  const t0 = Date.now();
  let started = false;
  return {
    update: (done, total) => {
      if (!started) {
        bar.start(total, 0, { rate: '…' });
        started = true;
      }
      const s = (Date.now() - t0) / 1000;
      bar.update(done, { rate: s > 0 ? (done / s).toFixed(1) : '…' });
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}

export function parseIntOption(name: string, min: number, max: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw optionError(name, `an integer in [${min}, ${max}]`, v);
    return n;
  };
}

export function parseFraction(name: string, max = 1): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!(v.trim() !== '' && n >= 0 && n < max)) throw optionError(name, `a number in [0, ${max})`, v);
    return n;
  };
}

/** Run async tasks with at most `n` at a time, in order of the input. */
async function pool<T, R>(xs: T[], n: number, f: (x: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(xs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, xs.length) }, async () => {
      while (next < xs.length) {
        const i = next++;
        out[i] = await f(xs[i]!, i);
      }
    }),
  );
  return out;
}

interface InspectReport {
  source: string;
  kind: string;
  images: number;
  counts: Record<string, Record<ClassName, number>>;
  patients: Record<ClassName, number> & { total: number };
  sources: Record<string, number>;
  formats: Record<string, number>;
  size: { minWidth: number; maxWidth: number; minHeight: number; maxHeight: number } | null;
  patientOverlap: string | null;
  warnings: string[];
  skipped: { file: string; code: string; reason: string; line?: number }[];
  unreadable: { file: string; code: string; reason: string }[];
}

async function inspect(src: string, opts: { json?: boolean; decode?: boolean }): Promise<void> {
  const data = await import('../../data/index.js');
  const path = await import('node:path');
  const ds = await data.loadDataset(src);
  const counts: InspectReport['counts'] = {};
  const patientsByClass = new Map<ClassName, Set<string>>(CLASSES.map((c) => [c, new Set()]));
  const all = new Set<string>();
  const sources: Record<string, number> = {};
  for (const it of ds.items) {
    const s = it.split ?? 'unsplit';
    counts[s] ??= { normal: 0, pneumonia: 0, 'COVID-19': 0 };
    counts[s][it.label]++;
    patientsByClass.get(it.label)!.add(data.patientKey(it));
    all.add(data.patientKey(it));
    sources[it.source] = (sources[it.source] ?? 0) + 1;
  }
  let overlap: string | null = null;
  if (ds.items.some((it) => it.split)) {
    try {
      data.assertPatientDisjoint({
        train: ds.items.filter((it) => it.split === 'train'),
        val: ds.items.filter((it) => it.split === 'val'),
        test: ds.items.filter((it) => it.split === 'test'),
      });
    } catch (e) {
      overlap = e instanceof Error ? e.message : String(e);
    }
  }
  const bar = await progress(opts.decode ? 'decoding' : 'reading headers', !!opts.json);
  const unreadable: InspectReport['unreadable'] = [];
  const formats: Record<string, number> = {};
  let size: InspectReport['size'] = null;
  const addSize = (w: number, h: number): void => {
    size = size
      ? { minWidth: Math.min(size.minWidth, w), maxWidth: Math.max(size.maxWidth, w), minHeight: Math.min(size.minHeight, h), maxHeight: Math.max(size.maxHeight, h) }
      : { minWidth: w, maxWidth: w, minHeight: h, maxHeight: h };
  };
  let done = 0;
  await pool(ds.items, 8, async (it) => {
    try {
      const h = await data.readImageHeader(it.file);
      formats[h.format] = (formats[h.format] ?? 0) + 1;
      addSize(h.width, h.height);
    } catch (e) {
      const err = e as { code?: string; message?: string };
      unreadable.push({ file: it.file, code: err.code ?? 'E_INTERNAL', reason: (err.message ?? String(e)).replace(`${it.file}: `, '') });
    }
    bar.update(++done, ds.items.length);
  });
  bar.stop();
  if (opts.decode) {
    // full decode (finds truncated and corrupt pixel data that headers do not show), no cache
    const bad = new Set(unreadable.map((u) => u.file));
    const bar2 = await progress('decoding', !!opts.json);
    const set = await data.prepareImages(ds.items.filter((it) => !bad.has(it.file)), { size: 32, crop: 0 }, { cacheDir: false, onProgress: bar2.update });
    bar2.stop();
    unreadable.push(...set.failed);
  }
  unreadable.sort((a, b) => (a.file < b.file ? -1 : 1));
  const report: InspectReport = {
    source: ds.root,
    kind: ds.kind,
    images: ds.items.length,
    counts,
    patients: { normal: patientsByClass.get('normal')!.size, pneumonia: patientsByClass.get('pneumonia')!.size, 'COVID-19': patientsByClass.get('COVID-19')!.size, total: all.size },
    sources,
    formats,
    size,
    patientOverlap: overlap,
    warnings: ds.warnings ?? [],
    skipped: ds.skipped,
    unreadable,
  };
  if (opts.json) {
    process.stdout.write(JSON.stringify(report, null, 1) + '\n');
    return;
  }
  const rel = (f: string): string => path.relative(process.cwd(), f) || f;
  const lines: string[] = [];
  lines.push(`${report.source} (${report.kind}): ${report.images} images, ${report.patients.total} patients`);
  const pad = (s: string, n: number): string => s.padStart(n);
  lines.push(`${'split'.padEnd(8)}${CLASSES.map((c) => pad(c, 11)).join('')}${pad('total', 8)}`);
  for (const [s, c] of Object.entries(counts)) {
    lines.push(`${s.padEnd(8)}${CLASSES.map((k) => pad(String(c[k]), 11)).join('')}${pad(String(CLASSES.reduce((a, k) => a + c[k], 0)), 8)}`);
  }
  lines.push(`${'patients'.padEnd(8)}${CLASSES.map((k) => pad(String(report.patients[k]), 11)).join('')}${pad(String(report.patients.total), 8)}`);
  lines.push(`sources: ${Object.entries(sources).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  lines.push(`formats: ${Object.entries(formats).map(([k, v]) => `${k} ${v}`).join(', ') || 'none readable'}`);
  const sz = report.size as InspectReport['size'];
  if (sz) lines.push(`image size: width ${sz.minWidth}–${sz.maxWidth}, height ${sz.minHeight}–${sz.maxHeight} px`);
  lines.push(overlap ? `patient overlap between the source's splits: ${overlap}` : ds.items.some((it) => it.split) ? 'splits are patient-disjoint' : 'no splits in the source (assigned at training time, patient-disjoint)');
  for (const w of report.warnings) lines.push(`warning: ${w}`);
  if (ds.skipped.length) lines.push(...summarise('skipped entries', ds.skipped, rel));
  if (unreadable.length) {
    lines.push(...summarise('unreadable files', unreadable, rel));
  } else {
    lines.push(opts.decode ? 'all files decode' : 'all headers readable (use --decode to decode every file)');
  }
  process.stdout.write(lines.join('\n') + '\n');
}

/** How many entries of a list `data inspect` prints; the rest are counted (all of them with --json). */
export const INSPECT_LIST_LIMIT = 10;

/** A long list of problems as counts per code and the first few entries. */
export function summarise(title: string, entries: readonly { file: string; code: string; reason: string }[], rel: (f: string) => string = (f) => f): string[] {
  const byCode = new Map<string, number>();
  for (const e of entries) byCode.set(e.code, (byCode.get(e.code) ?? 0) + 1);
  const counts = [...byCode].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([c, n]) => `${n} ${c}`).join(', ');
  const out = [`${title} (${entries.length}${byCode.size > 1 || entries.length > INSPECT_LIST_LIMIT ? `: ${counts}` : ''}):`];
  for (const e of entries.slice(0, INSPECT_LIST_LIMIT)) out.push(`  ${rel(e.file)}: ${e.reason} [${e.code}]`);
  if (entries.length > INSPECT_LIST_LIMIT) out.push(`  … and ${entries.length - INSPECT_LIST_LIMIT} more (all of them with --json)`);
  return out;
}

interface BenchOpts { size: number; threads?: number; json?: boolean; repeat: number; limit?: number; python?: boolean }

/** The Python baseline: PIL decode + convert('L') + cv2 INTER_AREA, one process, one file at a time. */
const PYTHON_LOOP = `
import json, sys, time
import numpy as np, cv2
from PIL import Image
files, size, repeat = json.load(sys.stdin)
times, cpu = [], []
for _ in range(repeat):
    t, c = time.perf_counter(), time.process_time()
    for f in files:
        g = np.asarray(Image.open(f).convert('L'))
        cv2.resize(g, (size, size), interpolation=cv2.INTER_AREA)
    times.append(time.perf_counter() - t)
    cpu.append(time.process_time() - c)
print(json.dumps({"n": len(files), "times": times, "cpu": cpu}))
`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function bench(src: string, opts: BenchOpts): Promise<void> {
  const data = await import('../../data/index.js');
  const os = await import('node:os');
  const ds = await data.loadDataset(src);
  let items = ds.items;
  if (opts.python) {
    // PIL cannot read DICOM: compare on the PNG/JPEG files only
    const keep: typeof items = [];
    for (const it of items) {
      const h = await data.readImageHeader(it.file).catch(() => undefined);
      if (h && h.format !== 'dicom') keep.push(it);
    }
    items = keep;
  }
  if (opts.limit !== undefined) items = items.slice(0, opts.limit);
  const threads = opts.threads ?? os.availableParallelism();
  const times: number[] = [];
  const cpu: number[] = [];
  let failed = 0;
  for (let r = 0; r < opts.repeat; r++) {
    const bar = await progress(`run ${r + 1}/${opts.repeat}`, !!opts.json);
    const t = performance.now();
    // CPU time of the whole process (all threads): less sensitive to other load than wall time
    const c = process.cpuUsage();
    const set = await data.prepareImages(items, { size: opts.size, crop: 0 }, { cacheDir: false, threads, onProgress: bar.update });
    const u = process.cpuUsage(c);
    times.push((performance.now() - t) / 1000);
    cpu.push((u.user + u.system) / 1e6);
    bar.stop();
    failed = set.failed.length;
  }
  const ours = { images: items.length, failed, threads, seconds: times, imagesPerSecond: items.length / median(times), cpuMsPerImage: (1000 * median(cpu)) / items.length };
  let python: { images: number; seconds: number[]; imagesPerSecond: number; cpuMsPerImage: number; command: string } | undefined;
  if (opts.python) {
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync('/usr/bin/python3', ['-c', PYTHON_LOOP], { input: JSON.stringify([items.map((i) => i.file), opts.size, opts.repeat]), encoding: 'utf8', maxBuffer: 1 << 24 });
    if (r.status !== 0) throw optionError('--python', 'a working /usr/bin/python3 with PIL, numpy and cv2', (r.stderr || r.error?.message || '').trim().split('\n').pop());
    const out = JSON.parse(r.stdout) as { n: number; times: number[]; cpu: number[] };
    python = { images: out.n, seconds: out.times, imagesPerSecond: out.n / median(out.times), cpuMsPerImage: (1000 * median(out.cpu)) / out.n, command: '/usr/bin/python3: PIL Image.open(f).convert("L") + cv2.resize(INTER_AREA), one process' };
  }
  const result = { source: ds.root, size: opts.size, cache: false, covidnet: ours, python, ratio: python ? ours.imagesPerSecond / python.imagesPerSecond : undefined };
  if (opts.json) {
    process.stdout.write(JSON.stringify(result, null, 1) + '\n');
    return;
  }
  const lines = [
    `decode + preprocess to ${opts.size}x${opts.size}, no cache, ${items.length} images, median of ${opts.repeat} runs`,
    `covidnet (${threads} worker thread${threads === 1 ? '' : 's'}): ${ours.imagesPerSecond.toFixed(1)} images/s, ${ours.cpuMsPerImage.toFixed(2)} ms CPU per image${failed ? ` (${failed} unreadable)` : ''}`,
  ];
  if (python) {
    lines.push(`python (PIL + cv2 INTER_AREA, single process): ${python.imagesPerSecond.toFixed(1)} images/s, ${python.cpuMsPerImage.toFixed(2)} ms CPU per image`);
    lines.push(`ratio: ${(ours.imagesPerSecond / python.imagesPerSecond).toFixed(2)}x`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

export function register(program: Command): void {
  const cmd = program.command('data').description('inspect a data source, benchmark decoding and preprocessing');
  cmd
    .command('inspect')
    .description('counts per split and class, patients, sources, image sizes, unreadable files')
    .argument('<src>', 'COVIDx folder or split file, CSV manifest (or folder with labels.csv), or folder per class')
    .option('--decode', 'decode every file (finds truncated/corrupt pixel data; slower)')
    .option('--json', 'machine-readable output')
    .action(async (src: string, opts: { json?: boolean; decode?: boolean }) => inspect(src, opts));
  cmd
    .command('bench')
    .description('decoded + preprocessed images per second (worker threads, cache disabled)')
    .argument('<src>', 'data source (as for inspect)')
    .option('--size <px>', 'output size', parseIntOption('--size', 8, 4096), 224)
    .option('--threads <n>', 'worker threads (default: all cores)', parseIntOption('--threads', 0, 256))
    .option('--repeat <n>', 'runs; the median is reported', parseIntOption('--repeat', 1, 100), 3)
    .option('--limit <n>', 'only the first n images', parseIntOption('--limit', 1, 10_000_000))
    .option('--python', 'also time a single-process Python loop (PIL decode + cv2 INTER_AREA) on the same PNG/JPEG files')
    .option('--json', 'machine-readable output')
    .action(async (src: string, opts: BenchOpts) => bench(src, opts));
}
