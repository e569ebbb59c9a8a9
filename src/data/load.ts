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
 */
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { CovidNetError } from '../errors.js';
import { isSplit, type ClassName, type Split } from '../types.js';
import type { Dataset, DatasetItem, SkippedEntry, SourceKind } from './types.js';

/** Class from a label as written in the sources (case-insensitive; a few common spellings). */
export function parseLabel(label: string): ClassName | undefined {
  const l = label.trim().toLowerCase().replace(/[\s_]+/g, '-');
  if (l === 'normal') return 'normal';
  if (l === 'pneumonia') return 'pneumonia';
  if (l === 'covid-19' || l === 'covid19' || l === 'covid') return 'COVID-19';
  return undefined;
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

class Collector {
  readonly items: DatasetItem[] = [];
  readonly skipped: SkippedEntry[] = [];
  readonly warnings: string[] = [];
  private readonly seen = new Map<string, { label: ClassName; line?: number }>();

  skip(file: string, code: string, reason: string, line?: number): void {
    this.skipped.push(line === undefined ? { file, code, reason } : { file, code, reason, line });
  }

  /** Adds an item unless its file is missing or already listed. */
  add(item: DatasetItem, line?: number, checkExists = true): void {
    const prev = this.seen.get(item.file);
    if (prev) {
      const where = prev.line === undefined ? '' : ` (first on line ${prev.line})`;
      const conflict = prev.label === item.label ? '' : `, with label ${item.label} instead of ${prev.label}`;
      this.skip(item.file, 'E_DUPLICATE', `listed again${conflict}${where}; first entry kept`, line);
      return;
    }
    if (checkExists && !isFile(item.file)) {
      this.skip(item.file, 'E_FILE_MISSING', 'file not found', line);
      return;
    }
    this.seen.set(item.file, line === undefined ? { label: item.label } : { label: item.label, line });
    this.items.push(item);
  }
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function finish(name: string, root: string, kind: SourceKind, c: Collector, what: string): Dataset {
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

function covidxSplitOf(file: string): Split {
  const b = path.basename(file).toLowerCase();
  if (b.includes('test')) return 'test';
  if (b.includes('val')) return 'val';
  return 'train';
}

function loadCovidx(dir: string, files: string[]): Dataset {
  const c = new Collector();
  let binary = 0;
  for (const txt of files) {
    const split = covidxSplitOf(txt);
    const imgDirs = [path.join(dir, split), ...(split === 'val' ? [path.join(dir, 'train')] : []), dir];
    const lines = readFileSync(txt, 'utf8').split(/\r?\n/);
    lines.forEach((raw, i) => {
      const line = i + 1;
      const t = raw.trim();
      if (t === '' || t.startsWith('#')) return;
      const parts = t.split(/\s+/);
      if (parts.length < 3) {
        c.skip(txt, 'E_MANIFEST', `line ${line}: expected "patient_id filename label source", got ${JSON.stringify(t.slice(0, 80))}`, line);
        return;
      }
      // file names may contain spaces: patient id first, then label and source last
      const hasSource = parts.length >= 4 && parseLabelOrBinary(parts[parts.length - 2]!) !== undefined;
      const labelRaw = hasSource ? parts[parts.length - 2]! : parts[parts.length - 1]!;
      const source = hasSource ? parts[parts.length - 1]! : 'unknown';
      const fname = parts.slice(1, hasSource ? -2 : -1).join(' ');
      const found = imgDirs.map((d) => path.join(d, fname)).find(isFile) ?? path.join(imgDirs[0]!, fname);
      const lab = parseLabelOrBinary(labelRaw);
      if (lab === undefined) {
        c.skip(found, 'E_LABEL', `${path.basename(txt)} line ${line}: unknown label ${JSON.stringify(labelRaw)} (expected normal, pneumonia, COVID-19, or positive/negative)`, line);
        return;
      }
      if (lab.binary) binary++;
      const item: DatasetItem = { file: found, label: lab.label, patientId: parts[0]!, source, split };
      if (lab.binary) item.meta = { originalLabel: labelRaw };
      c.add(item, line);
    });
  }
  if (binary > 0) {
    c.warnings.push(`${binary} entries use the 2-class COVIDx labels positive/negative: read as COVID-19 / normal ("negative" means not COVID-19 and may include pneumonia), so 3-class results on this data are not meaningful`);
  }
  return finish(path.basename(dir), dir, 'covidx', c, files.map((f) => path.basename(f)).join(', '));
}

function parseLabelOrBinary(s: string): { label: ClassName; binary: boolean } | undefined {
  const l = parseLabel(s);
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

function loadCsv(csvPath: string): Dataset {
  const dir = path.dirname(csvPath);
  const text = readFileSync(csvPath, 'utf8');
  let rows: { record: Record<string, string>; info: { lines: number } }[];
  try {
    rows = parse(text, { columns: (h: string[]) => h.map((x) => x.trim().toLowerCase()), skip_empty_lines: true, bom: true, info: true, relax_column_count: true, trim: true }) as typeof rows;
  } catch (e) {
    const line = (e as { lines?: number }).lines;
    throw new CovidNetError('E_MANIFEST', `${line !== undefined ? `line ${line}: ` : ''}cannot parse CSV (${e instanceof Error ? e.message : String(e)})`, { file: csvPath });
  }
  const header = rows.length ? Object.keys(rows[0]!.record) : (text.split(/\r?\n/)[0] ?? '').split(',').map((h) => h.trim().toLowerCase());
  const pick = (names: string[]): string | undefined => names.find((n) => header.includes(n));
  const fileCol = pick(FILE_COLS);
  const labelCol = pick(LABEL_COLS);
  const patientCol = pick(PATIENT_COLS);
  if (!fileCol || !labelCol) {
    throw new CovidNetError('E_MANIFEST', `CSV header must have columns file,label,patient_id (found: ${header.join(',') || 'nothing'})`, { file: csvPath });
  }
  const c = new Collector();
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
    const label = parseLabel(record[labelCol] ?? '');
    if (!label) {
      c.skip(file, 'E_LABEL', `${path.basename(csvPath)} line ${line}: unknown label ${JSON.stringify(record[labelCol] ?? '')} (expected normal, pneumonia or COVID-19)`, line);
      continue;
    }
    const split = parseSplit(record['split'] ?? '');
    if (split === 'bad') {
      c.skip(file, 'E_MANIFEST', `${path.basename(csvPath)} line ${line}: unknown split ${JSON.stringify(record['split'])} (expected train, val or test)`, line);
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
  return finish(path.basename(dir), csvPath, 'csv', c, path.basename(csvPath));
}

// ---------------------------------------------------------------- folder per class

function classDirs(dir: string): [ClassName, string][] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: [ClassName, string][] = [];
  for (const n of names.sort()) {
    const l = parseLabel(n);
    if (l && isDir(path.join(dir, n))) out.push([l, path.join(dir, n)]);
  }
  return out;
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(p));
    else if (e.isFile() && !NOT_IMAGES.has(path.extname(e.name).toLowerCase()) && e.name !== 'Thumbs.db') out.push(p);
  }
  return out;
}

function loadFolders(dir: string, layout: [Split | undefined, [ClassName, string][]][]): Dataset {
  const c = new Collector();
  for (const [split, dirs] of layout) {
    for (const [label, d] of dirs) {
      for (const file of listFiles(d)) {
        const item: DatasetItem = { file, label, patientId: path.parse(file).name, source: 'unknown' };
        if (split) item.split = split;
        c.add(item, undefined, false);
      }
    }
  }
  c.warnings.push('folder-per-class source: patient id = file name stem, so images of one patient are not kept together unless their names say so');
  return finish(path.basename(dir), dir, 'folders', c, 'the class folders');
}

// ---------------------------------------------------------------- detection

/** Load a data set from a COVIDx folder or split file, a CSV manifest, or a folder per class. */
export async function loadDataset(src: string): Promise<Dataset> {
  const abs = path.resolve(src);
  if (!existsSync(abs)) throw new CovidNetError('E_FILE_MISSING', 'data source not found', { file: src });
  if (isFile(abs)) {
    const ext = path.extname(abs).toLowerCase();
    if (ext === '.csv') return loadCsv(abs);
    if (ext === '.txt') return loadCovidx(path.dirname(abs), [abs]);
    throw new CovidNetError('E_SOURCE', 'expected a folder, a .csv manifest or a COVIDx .txt split file', { file: src });
  }
  const labels = path.join(abs, 'labels.csv');
  if (isFile(labels)) return loadCsv(labels);
  const txts = COVIDX_FILES.map(([, f]) => path.join(abs, f)).filter(isFile);
  if (txts.length) return loadCovidx(abs, txts);
  const top = classDirs(abs);
  if (top.length) return loadFolders(abs, [[undefined, top]]);
  const bySplit: [Split | undefined, [ClassName, string][]][] = [];
  for (const s of ['train', 'val', 'test'] as const) {
    const d = [s, ...(s === 'val' ? ['validation', 'valid'] : [])].map((n) => path.join(abs, n)).find(isDir);
    if (d) bySplit.push([s, classDirs(d)]);
  }
  if (bySplit.some(([, d]) => d.length)) return loadFolders(abs, bySplit);
  const csvs = readdirSync(abs).filter((f) => f.toLowerCase().endsWith('.csv'));
  if (csvs.length === 1) return loadCsv(path.join(abs, csvs[0]!));
  throw new CovidNetError('E_SOURCE', 'not a data source: expected labels.csv (or one .csv), COVIDx train.txt/test.txt, or folders normal/, pneumonia/, COVID-19/', { file: src });
}
