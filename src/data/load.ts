/**
 * Data sources, detected from a path, all giving one `Dataset`:
 * - COVIDx split files (`train.txt`, `test.txt`, optional `val.txt`: `patient_id filename label source`,
 *   images in `train/`, `test/`, `val/`), a folder holding them or one such file;
 * - a CSV manifest (`labels.csv` in a folder, or any `.csv` path) with `file,label,patient_id`
 *   columns, optional `split` and `source`, other columns kept as `meta`;
 * - a folder per class (`normal/`, `pneumonia/`, `COVID-19/`), optionally under `train/`, `val/`,
 *   `test/`; patient id = file name stem.
 * Bad entries (unknown labels, missing files, duplicates, malformed lines) are skipped and listed
 * in `skipped` with their line numbers; only a source with nothing usable is an error.
 * Symbolic links are followed the same way in every source (a link to a regular file is that
 * file); anything that is not a regular file (FIFO, device, socket, broken link) is skipped and
 * listed. Messages quote a manifest's values only where they look like labels or splits, never
 * whole lines or free text: they are stored with the run (splits.json).
 */
import { readdirSync, realpathSync, statSync, existsSync, type Stats } from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { CovidNetError } from '../errors.js';
import { notRegularReason, readRegularFileSync } from './files.js';
import { isSplit, type ClassName, type Split } from '../types.js';
import type { Dataset, DatasetItem, SkippedEntry, SourceKind } from './types.js';

/**
 * Class from a label as written in the sources: the study's classes (case-insensitive; a few
 * common spellings), then the `extra` class names asked for (`--classes`, `templates add --label`;
 * case-insensitive, returned as spelled there). Anything else is an unknown label, so a typo is
 * reported instead of becoming a class.
 */
export function parseLabel(label: string, extra: readonly ClassName[] = []): ClassName | undefined {
  const l = label.trim().toLowerCase().replace(/[\s_]+/g, '-');
  if (l === 'normal') return 'normal';
  if (l === 'pneumonia') return 'pneumonia';
  if (l === 'covid-19' || l === 'covid19' || l === 'covid') return 'COVID-19';
  const t = label.trim().toLowerCase();
  return extra.find((c) => c.toLowerCase() === t);
}

/** What a loader accepts beyond the study's classes. */
export interface LoadOptions {
  /** Class names (other than the study's) that labels may use. */
  extraClasses?: readonly ClassName[];
}

function expectedLabels(extra: readonly ClassName[], binary = false): string {
  const names = ['normal', 'pneumonia', 'COVID-19', ...extra];
  return `expected ${names.slice(0, -1).join(', ')}${binary ? ', ' : ' or '}${names[names.length - 1]}${binary ? ', or positive/negative' : ''}`;
}

function parseSplit(s: string): Split | undefined | 'bad' {
  const v = s.trim().toLowerCase();
  if (v === '') return undefined;
  if (v === 'validation' || v === 'valid' || v === 'dev') return 'val';
  return isSplit(v) ? v : 'bad';
}

/** Patients are identified by (source, patient id), as in COVIDx and cxr-mini. */
export function patientKey(item: Pick<DatasetItem, 'source' | 'patientId'>): string {
  return `${item.source}/${item.patientId}`;
}

const NOT_IMAGES = new Set(['.txt', '.csv', '.json', '.md', '.xml', '.html', '.htm', '.db', '.yaml', '.yml', '.zip', '.gz', '.tar', '.py', '.sh']);

/** A manifest is read whole: over this it is refused (COVIDx's largest split file is 2 MB). */
export const MAX_MANIFEST_BYTES = 256 * 1024 * 1024;

/** What the loaders need of the file system (a stand-in in the fuzz tests). */
export interface LoaderFs {
  /** stat following links; undefined when the path (or a link's target) does not exist. */
  stat(p: string): Stats | undefined;
}

const realFs: LoaderFs = {
  stat: (p) => {
    try {
      return statSync(p);
    } catch {
      return undefined;
    }
  },
};

/** A value of a manifest, quoted in a message only when it looks like a label or split name. */
export function quoteValue(v: string): string {
  return /^[\p{L}\p{N} _.+()-]{0,32}$/u.test(v) ? JSON.stringify(v) : `(${v.length} characters, not shown)`;
}

export interface LoadResult {
  items: DatasetItem[];
  skipped: SkippedEntry[];
  warnings: string[];
}

class Collector implements LoadResult {
  readonly items: DatasetItem[] = [];
  readonly skipped: SkippedEntry[] = [];
  readonly warnings: string[] = [];
  private readonly seen = new Map<string, { label: ClassName; line?: number }>();
  constructor(readonly fs: LoaderFs) {}

  skip(file: string, code: string, reason: string, line?: number): void {
    this.skipped.push(line === undefined ? { file, code, reason } : { file, code, reason, line });
  }

  /** Adds an item unless its file is missing, not a regular file, or already listed. */
  add(item: DatasetItem, line?: number, known: Stats | 'regular' | 'missing' | 'look up' = 'look up'): void {
    const prev = this.seen.get(item.file);
    if (prev) {
      const where = prev.line === undefined ? '' : ` (first on line ${prev.line})`;
      const conflict = prev.label === item.label ? '' : `, with label ${item.label} instead of ${prev.label}`;
      this.skip(item.file, 'E_DUPLICATE', `listed again${conflict}${where}; first entry kept`, line);
      return;
    }
    const s = known === 'look up' ? this.fs.stat(item.file) : known === 'missing' ? undefined : known;
    if (s === undefined) {
      this.skip(item.file, 'E_FILE_MISSING', 'file not found', line);
      return;
    }
    if (s !== 'regular' && !s.isFile()) {
      this.skip(item.file, 'E_FORMAT_UNKNOWN', notRegularReason(s), line);
      return;
    }
    this.seen.set(item.file, line === undefined ? { label: item.label } : { label: item.label, line });
    this.items.push(item);
  }
}

function isFile(p: string): boolean {
  return realFs.stat(p)?.isFile() ?? false;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function finish(name: string, root: string, kind: SourceKind, c: LoadResult, what: string): Dataset {
  if (c.items.length === 0) {
    const first = c.skipped.slice(0, 3).map((s) => `${s.line !== undefined ? `line ${s.line}: ` : ''}${s.file}: ${s.reason}`).join('; ');
    throw new CovidNetError('E_SOURCE', `no usable images in ${what}${c.skipped.length ? ` (${c.skipped.length} entries skipped, e.g. ${first})` : ''}`, { file: root });
  }
  const ds: Dataset = { name, root, kind, items: c.items, skipped: c.skipped };
  if (c.warnings.length) ds.warnings = c.warnings;
  return ds;
}

// ---------------------------------------------------------------- COVIDx split files

const COVIDX_FILES: [Split, string][] = [['train', 'train.txt'], ['val', 'val.txt'], ['test', 'test.txt']];

function readManifest(file: string): string {
  try {
    return readRegularFileSync(file, MAX_MANIFEST_BYTES).toString('utf8');
  } catch (e) {
    if (e instanceof CovidNetError) throw new CovidNetError(e.code === 'E_TOO_LARGE' ? 'E_MANIFEST' : e.code, e.reason, { file });
    throw new CovidNetError('E_MANIFEST', `cannot read the manifest (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { file, cause: e });
  }
}

function covidxSplitOf(file: string): Split {
  const b = path.basename(file).toLowerCase();
  if (b.includes('test')) return 'test';
  if (b.includes('val')) return 'val';
  return 'train';
}

/** One COVIDx line split into its fields (the file name keeps its inner whitespace as written). */
export interface CovidxFields {
  patientId: string;
  fname: string;
  labelRaw: string;
  source: string;
}

/** The longest line that is searched for other readings of its fields (see `covidxReadings`). */
const MAX_COVIDX_TOKENS = 24;

/**
 * The readings of a line `patient_id filename label [source]` whose fields may contain spaces: the
 * usual one first (patient id one token, label the second-last token unless the last one is a label),
 * then every other way of cutting the tokens into patient id, file name, a label of one or two
 * tokens and a source, for the caller to keep the first whose file exists.
 */
export function covidxReadings(line: string, extra: readonly ClassName[] = []): { fields: number; readings: CovidxFields[] } {
  const toks: { start: number; end: number }[] = [];
  for (const m of line.matchAll(/\S+/g)) toks.push({ start: m.index, end: m.index + m[0].length });
  const n = toks.length;
  if (n < 3) return { fields: n, readings: [] };
  const cut = (i: number, j: number): string => (i >= j ? '' : line.slice(toks[i]!.start, toks[j - 1]!.end));
  const tok = (i: number): string => cut(i, i + 1);
  // with a source unless the last token is the label (a bad label is then reported as the label)
  const hasSource = n >= 4 && (parseLabelOrBinary(tok(n - 2), extra) !== undefined || parseLabelOrBinary(tok(n - 1), extra) === undefined);
  const labelAt = hasSource ? n - 2 : n - 1;
  const readings: CovidxFields[] = [{ patientId: tok(0), fname: cut(1, labelAt), labelRaw: tok(labelAt), source: hasSource ? tok(n - 1) : 'unknown' }];
  if (n > MAX_COVIDX_TOKENS) return { fields: n, readings };
  // patient id tokens [0, i), file name [i, j), label [j, k), source [k, n)
  for (let i = 1; i < n - 1; i++) {
    for (let j = i + 1; j < n; j++) {
      for (const k of [j + 2, j + 1]) {
        if (k > n) continue;
        const labelRaw = cut(j, k);
        if (parseLabelOrBinary(labelRaw, extra) === undefined) continue;
        const r = { patientId: cut(0, i), fname: cut(i, j), labelRaw, source: k < n ? cut(k, n) : 'unknown' };
        if (r.patientId === readings[0]!.patientId && r.fname === readings[0]!.fname && r.labelRaw === readings[0]!.labelRaw) continue;
        readings.push(r);
      }
    }
  }
  return { fields: n, readings };
}

/** COVIDx split file text → items (files looked up in `imgDirs`, in order). */
export function parseCovidxText(text: string, txt: string, split: Split, imgDirs: string[], fs: LoaderFs = realFs, extra: readonly ClassName[] = []): LoadResult & { binary: number } {
  const c = new Collector(fs);
  return Object.assign(c, { binary: covidxInto(c, text, txt, split, imgDirs, extra) });
}

/** Adds the entries of one split file to `c`; returns how many use the 2-class labels. */
function covidxInto(c: Collector, text: string, txt: string, split: Split, imgDirs: string[], extra: readonly ClassName[]): number {
  const fs = c.fs;
  let binary = 0;
  const locate = (fname: string): { file: string; st: Stats } | undefined => {
    for (const d of imgDirs) {
      const file = path.join(d, fname);
      const st = fs.stat(file);
      if (st) return { file, st };
    }
    return undefined;
  };
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const t = raw.trim();
    if (t === '' || t.startsWith('#')) return;
    const { fields, readings } = covidxReadings(t, extra);
    if (readings.length === 0) {
      c.skip(txt, 'E_MANIFEST', `line ${line}: expected "patient_id filename label source", got ${fields} field${fields === 1 ? '' : 's'}`, line);
      return;
    }
    // the usual reading, unless its file is missing and another reading names a file that exists
    let r = readings[0]!;
    let found = locate(r.fname);
    if (!found || parseLabelOrBinary(r.labelRaw, extra) === undefined) {
      for (const alt of readings.slice(1)) {
        const f = locate(alt.fname);
        if (f) {
          r = alt;
          found = f;
          break;
        }
      }
    }
    const file = found?.file ?? path.join(imgDirs[0]!, r.fname);
    const lab = parseLabelOrBinary(r.labelRaw, extra);
    if (lab === undefined) {
      c.skip(file, 'E_LABEL', `${path.basename(txt)} line ${line}: unknown label ${quoteValue(r.labelRaw)} (${expectedLabels(extra, true)})`, line);
      return;
    }
    if (lab.binary) binary++;
    const item: DatasetItem = { file, label: lab.label, patientId: r.patientId, source: r.source, split };
    if (lab.binary) item.meta = { originalLabel: r.labelRaw };
    c.add(item, line, found?.st ?? 'missing');
  });
  return binary;
}

function loadCovidx(dir: string, files: string[], extra: readonly ClassName[]): Dataset {
  const c = new Collector(realFs);
  let binary = 0;
  for (const txt of files) {
    const split = covidxSplitOf(txt);
    const imgDirs = [path.join(dir, split), ...(split === 'val' ? [path.join(dir, 'train')] : []), dir];
    binary += covidxInto(c, readManifest(txt), txt, split, imgDirs, extra);
  }
  if (binary > 0) {
    c.warnings.push(`${binary} entries use the 2-class COVIDx labels positive/negative: read as COVID-19 / normal ("negative" means not COVID-19 and may include pneumonia), so 3-class results on this data are not meaningful`);
  }
  return finish(path.basename(dir), dir, 'covidx', c, files.map((f) => path.basename(f)).join(', '));
}

function parseLabelOrBinary(s: string, extra: readonly ClassName[] = []): { label: ClassName; binary: boolean } | undefined {
  const l = parseLabel(s, extra);
  if (l) return { label: l, binary: false };
  const v = s.trim().toLowerCase();
  if (v === 'positive') return { label: 'COVID-19', binary: true };
  if (v === 'negative') return { label: 'normal', binary: true };
  return undefined;
}

// ---------------------------------------------------------------- CSV manifest

const FILE_COLS = ['file', 'filename', 'path', 'image'];
const LABEL_COLS = ['label', 'class', 'finding'];
const PATIENT_COLS = ['patient_id', 'patientid', 'patient'];

/** csv-parse's message without the field values it sometimes quotes ("value is ..."). */
function csvErrorText(e: unknown): string {
  const m = (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
  return m.replace(/,? *(value is|got) .*$/i, '').replace(/"[^"]*"/g, '"…"').slice(0, 200);
}

/** A column name for a message: shown when it looks like one. */
function columnName(h: string): string | undefined {
  return /^[\p{L}\p{N} _.()-]{1,40}$/u.test(h) ? h : undefined;
}

/** CSV manifest text → items (file paths relative to `dir`). Throws E_MANIFEST for an unusable header. */
export function parseCsvText(raw: string, csvPath: string, dir = path.dirname(csvPath), fs: LoaderFs = realFs, extra: readonly ClassName[] = []): LoadResult {
  // one line ending: csv-parse counts lines from the first ending it sees, so mixed \n and \r\n
  // gave wrong line numbers (found by fuzzing)
  const text = raw.replace(/\r\n?/g, '\n');
  let rows: { record: Record<string, string>; info: { lines: number } }[];
  try {
    rows = parse(text, { columns: (h: string[]) => h.map((x) => String(x).trim().toLowerCase()), skip_empty_lines: true, bom: true, info: true, relax_column_count: true, trim: true }) as typeof rows;
  } catch (e) {
    const line = (e as { lines?: number }).lines;
    throw new CovidNetError('E_MANIFEST', `${line !== undefined ? `line ${line}: ` : ''}cannot parse CSV (${csvErrorText(e)})`, { file: csvPath });
  }
  const header = rows.length ? Object.keys(rows[0]!.record) : (text.split(/\r?\n/)[0] ?? '').split(',').map((h) => h.trim().toLowerCase());
  const pick = (names: string[]): string | undefined => names.find((n) => header.includes(n));
  const fileCol = pick(FILE_COLS);
  const labelCol = pick(LABEL_COLS);
  const patientCol = pick(PATIENT_COLS);
  if (!fileCol || !labelCol) {
    const shownCols = header.map(columnName).filter((h) => h !== undefined);
    const hidden = header.length - shownCols.length;
    const found = header.join('') === '' ? 'nothing' : `${shownCols.join(',')}${hidden ? `${shownCols.length ? ' and ' : ''}${hidden} column${hidden === 1 ? '' : 's'} not shown` : ''}`;
    throw new CovidNetError('E_MANIFEST', `CSV header must have columns file,label,patient_id (found: ${found})`, { file: csvPath });
  }
  const c = new Collector(fs);
  if (!patientCol) c.warnings.push(`${path.basename(csvPath)} has no patient_id column: every image is taken as its own patient (file name stem), so splits cannot keep a patient's images together`);
  const known = new Set([fileCol, labelCol, patientCol, 'split', 'source']);
  for (const { record, info } of rows) {
    const line = info.lines;
    const rel = record[fileCol] ?? '';
    if (rel === '') {
      c.skip(csvPath, 'E_MANIFEST', `line ${line}: empty file name`, line);
      continue;
    }
    const file = path.resolve(dir, rel);
    const label = parseLabel(record[labelCol] ?? '', extra);
    if (!label) {
      c.skip(file, 'E_LABEL', `${path.basename(csvPath)} line ${line}: unknown label ${quoteValue(record[labelCol] ?? '')} (${expectedLabels(extra)})`, line);
      continue;
    }
    const split = parseSplit(record['split'] ?? '');
    if (split === 'bad') {
      c.skip(file, 'E_MANIFEST', `${path.basename(csvPath)} line ${line}: unknown split ${quoteValue(record['split'] ?? '')} (expected train, val or test)`, line);
      continue;
    }
    const patientId = (patientCol ? record[patientCol] : '') || path.parse(rel).name;
    const item: DatasetItem = { file, label, patientId, source: record['source'] || 'unknown' };
    if (split) item.split = split;
    const meta: Record<string, string> = {};
    for (const [k, v] of Object.entries(record)) if (!known.has(k)) meta[k] = v;
    if (Object.keys(meta).length) item.meta = meta;
    c.add(item, line);
  }
  return c;
}

function loadCsv(csvPath: string, extra: readonly ClassName[]): Dataset {
  return finish(path.basename(path.dirname(csvPath)), csvPath, 'csv', parseCsvText(readManifest(csvPath), csvPath, path.dirname(csvPath), realFs, extra), path.basename(csvPath));
}

// ---------------------------------------------------------------- folder per class

function classDirs(dir: string, extra: readonly ClassName[]): [ClassName, string][] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: [ClassName, string][] = [];
  for (const n of names.sort()) {
    const l = parseLabel(n, extra);
    if (l && isDir(path.join(dir, n))) out.push([l, path.join(dir, n)]);
  }
  return out;
}

const skipName = (name: string): boolean => name.startsWith('.') || name === 'Thumbs.db';

/**
 * The image files under a class folder, depth first in name order. Links are followed as the CSV
 * and COVIDx sources follow them (a folder reached again through a link loop is not listed again);
 * entries that are no regular file (FIFO, device, socket, broken link) go to `c.skipped`.
 */
function listFiles(dir: string, c: Collector, visited: Set<string>): string[] {
  const out: string[] = [];
  let real: string;
  try {
    real = realpathSync(dir);
  } catch {
    return out;
  }
  if (visited.has(real)) return out;
  visited.add(real);
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    c.skip(dir, 'E_SOURCE', `folder not readable (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    return out;
  }
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (skipName(e.name)) continue;
    const p = path.join(dir, e.name);
    const st = e.isSymbolicLink() || !(e.isFile() || e.isDirectory()) ? c.fs.stat(p) : undefined;
    if (e.isDirectory() || st?.isDirectory()) {
      out.push(...listFiles(p, c, visited));
      continue;
    }
    if (NOT_IMAGES.has(path.extname(e.name).toLowerCase())) continue;
    if (e.isFile() || st?.isFile()) out.push(p);
    else if (st === undefined) c.skip(p, 'E_FILE_MISSING', e.isSymbolicLink() ? 'symbolic link to a missing file' : 'file not found');
    else c.skip(p, 'E_FORMAT_UNKNOWN', notRegularReason(st));
  }
  return out;
}

function loadFolders(dir: string, layout: [Split | undefined, [ClassName, string][]][]): Dataset {
  const c = new Collector(realFs);
  for (const [split, dirs] of layout) {
    for (const [label, d] of dirs) {
      for (const file of listFiles(d, c, new Set())) {
        const item: DatasetItem = { file, label, patientId: path.parse(file).name, source: 'unknown' };
        if (split) item.split = split;
        c.add(item, undefined, 'regular');
      }
    }
  }
  c.warnings.push('folder-per-class source: patient id = file name stem, so images of one patient are not kept together unless their names say so');
  return finish(path.basename(dir), dir, 'folders', c, 'the class folders');
}

// ---------------------------------------------------------------- detection

/** Load a data set from a COVIDx folder or split file, a CSV manifest, or a folder per class. */
export async function loadDataset(src: string, opts: LoadOptions = {}): Promise<Dataset> {
  const extra = (opts.extraClasses ?? []).filter((c) => parseLabel(c) === undefined);
  const abs = path.resolve(src);
  if (!existsSync(abs)) throw new CovidNetError('E_FILE_MISSING', 'data source not found', { file: src });
  if (isFile(abs)) {
    const ext = path.extname(abs).toLowerCase();
    if (ext === '.csv') return loadCsv(abs, extra);
    if (ext === '.txt') return loadCovidx(path.dirname(abs), [abs], extra);
    throw new CovidNetError('E_SOURCE', 'expected a folder, a .csv manifest or a COVIDx .txt split file', { file: src });
  }
  const labels = path.join(abs, 'labels.csv');
  if (isFile(labels)) return loadCsv(labels, extra);
  const txts = COVIDX_FILES.map(([, f]) => path.join(abs, f)).filter(isFile);
  if (txts.length) return loadCovidx(abs, txts, extra);
  const top = classDirs(abs, extra);
  if (top.length) return loadFolders(abs, [[undefined, top]]);
  const bySplit: [Split | undefined, [ClassName, string][]][] = [];
  for (const s of ['train', 'val', 'test'] as const) {
    const d = [s, ...(s === 'val' ? ['validation', 'valid'] : [])].map((n) => path.join(abs, n)).find(isDir);
    if (d) bySplit.push([s, classDirs(d, extra)]);
  }
  if (bySplit.some(([, d]) => d.length)) return loadFolders(abs, bySplit);
  const csvs = readdirSync(abs).filter((f) => f.toLowerCase().endsWith('.csv'));
  if (csvs.length === 1) return loadCsv(path.join(abs, csvs[0]!), extra);
  throw new CovidNetError('E_SOURCE', 'not a data source: expected labels.csv (or one .csv), COVIDx train.txt/test.txt, or folders normal/, pneumonia/, COVID-19/', { file: src });
}
