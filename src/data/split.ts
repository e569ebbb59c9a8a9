/**
 * Patient-disjoint train/validation/test splits and the overlap check.
 * A patient is (source, patient id); a patient with images of several classes is counted under
 * its most frequent class (ties: COVID-19, then pneumonia, then normal: the rarer classes), and
 * all of its images go to one split.
 */
import { stat } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { CovidNetError, optionError } from '../errors.js';
import { CLASSES, classesOf, type ClassName, type Split } from '../types.js';
import { createRng, shuffleInPlace } from '../util/rng.js';
import { patientKey } from './load.js';
import type { DatasetItem } from './types.js';

export interface SplitOptions {
  /** Fraction of each class's (remaining) patients for validation; 0.2 in the study. */
  valFraction: number;
  /** Fraction of each class's patients for test, used only when the source has no splits. */
  testFraction: number;
  seed: number;
}

export interface Splits {
  train: DatasetItem[];
  val: DatasetItem[];
  test: DatasetItem[];
}

/** Per-class seed offsets: a study class keeps its index, another class comes after them by name. */
function classOrder(items: readonly DatasetItem[]): [ClassName, number][] {
  const others = classesOf(items.map((it) => it.label)).filter((c) => !(CLASSES as readonly string[]).includes(c));
  return [...CLASSES.map((c, i): [ClassName, number] => [c, i]), ...others.map((c, i): [ClassName, number] => [c, CLASSES.length + i])];
}

function patientClass(items: DatasetItem[]): ClassName {
  const n = new Map<ClassName, number>();
  for (const it of items) n.set(it.label, (n.get(it.label) ?? 0) + 1);
  let best: ClassName = items[0]!.label;
  let bestN = -1;
  // reverse class order so ties go to the rarer class (another class counts as rarer still)
  for (const [c] of classOrder(items).reverse()) {
    const k = n.get(c) ?? 0;
    if (k > bestN) {
      best = c;
      bestN = k;
    }
  }
  return best;
}

/** Group by patient, in first-appearance order. */
function byPatient(items: DatasetItem[]): Map<string, DatasetItem[]> {
  const m = new Map<string, DatasetItem[]>();
  for (const it of items) {
    const k = patientKey(it);
    const g = m.get(k);
    if (g) g.push(it);
    else m.set(k, [it]);
  }
  return m;
}

/**
 * Take `fraction` of each class's patients (rounded, at least one where the class has two or more
 * patients and fraction > 0, never all of them). Seeded per class, independent of item order.
 */
function carve(items: DatasetItem[], fraction: number, seed: number): { taken: DatasetItem[]; rest: DatasetItem[] } {
  const groups = byPatient(items);
  const perClass = new Map<ClassName, string[]>();
  for (const [k, g] of groups) {
    const c = patientClass(g);
    const l = perClass.get(c);
    if (l) l.push(k);
    else perClass.set(c, [k]);
  }
  const takenKeys = new Set<string>();
  for (const [c, ci] of classOrder(items)) {
    const keys = (perClass.get(c) ?? []).sort();
    if (keys.length < 2 || fraction <= 0) continue;
    const n = Math.min(keys.length - 1, Math.max(1, Math.round(fraction * keys.length)));
    shuffleInPlace(keys, createRng(seed * 31 + ci + 1));
    for (const k of keys.slice(0, n)) takenKeys.add(k);
  }
  const taken: DatasetItem[] = [];
  const rest: DatasetItem[] = [];
  for (const it of items) (takenKeys.has(patientKey(it)) ? taken : rest).push(it);
  return { taken, rest };
}

function withSplit(items: DatasetItem[], split: Split): DatasetItem[] {
  return items.map((it) => (it.split === split ? it : { ...it, split }));
}

/**
 * Train/val/test. The source's own splits are used where it has them (a patient-disjoint val is
 * carved from train, `valFraction` per class, when the source has train but no val; items without
 * a split in such a source count as train). A source without splits gets test = `testFraction` of
 * each class's patients, then val = `valFraction` of the rest. Checked for patient overlap.
 */
export function splitDataset(items: DatasetItem[], opts: SplitOptions): Splits {
  if (!(opts.valFraction >= 0 && opts.valFraction < 1)) throw optionError('valFraction', 'a fraction in [0, 1)', opts.valFraction);
  if (!(opts.testFraction >= 0 && opts.testFraction < 1)) throw optionError('testFraction', 'a fraction in [0, 1)', opts.testFraction);
  if (!Number.isInteger(opts.seed)) throw optionError('seed', 'an integer', opts.seed);
  let out: Splits;
  if (items.some((it) => it.split !== undefined)) {
    const train = items.filter((it) => it.split === 'train' || it.split === undefined);
    let val = items.filter((it) => it.split === 'val');
    const test = items.filter((it) => it.split === 'test');
    let tr = train;
    if (val.length === 0) {
      const c = carve(train, opts.valFraction, opts.seed);
      val = c.taken;
      tr = c.rest;
    }
    out = { train: withSplit(tr, 'train'), val: withSplit(val, 'val'), test: withSplit(test, 'test') };
  } else {
    const t = carve(items, opts.testFraction, opts.seed + 7919);
    const v = carve(t.rest, opts.valFraction, opts.seed);
    out = { train: withSplit(v.rest, 'train'), val: withSplit(v.taken, 'val'), test: withSplit(t.taken, 'test') };
  }
  assertPatientDisjoint(out);
  return out;
}

/**
 * At most `perClass` items of each class, nested: the items of a class are put in one seeded order
 * (independent of input order) and the first `perClass` taken, so for one seed a smaller subset is
 * always inside a larger one (learning curves under scarce data). Returns the kept and the left-out
 * items, each in input order.
 */
export function subsamplePerClass(items: readonly DatasetItem[], perClass: number, seed: number): { kept: DatasetItem[]; left: DatasetItem[] } {
  if (!(Number.isInteger(perClass) && perClass >= 1)) throw optionError('--per-class', 'a positive integer', perClass);
  const keep = new Set<DatasetItem>();
  for (const [c, ci] of classOrder(items)) {
    const of = items.filter((it) => it.label === c).sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
    shuffleInPlace(of, createRng(seed * 131 + ci + 17));
    for (const it of of.slice(0, perClass)) keep.add(it);
  }
  return { kept: items.filter((it) => keep.has(it)), left: items.filter((it) => !keep.has(it)) };
}

/**
 * `k` items of one class drawn with `seed`: the items in one seeded order (by file, independent of
 * input order), the first `k`; nested, so for one seed the 5 include the 1. Training with
 * `--shots CLASS:K` and `templates add --shots K` draw the same images.
 */
export function shotSubset<T extends { file: string }>(items: readonly T[], k: number, seed: number): T[] {
  if (!(Number.isInteger(k) && k >= 1)) throw optionError('--shots', 'a positive integer', k);
  const of = [...items].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  shuffleInPlace(of, createRng(seed * 977 + 31));
  return of.slice(0, k);
}

/** `CLASS:K` (the `--shots` option) → its parts. */
export function parseShots(v: string): { cls: ClassName; k: number } {
  const m = /^([^:,]+):([1-9][0-9]{0,6})$/.exec(v.trim());
  if (!m) throw optionError('--shots', 'CLASS:K, e.g. COVID-19:5', v);
  return { cls: m[1]!.trim(), k: Number(m[2]) };
}

/** Throws E_PATIENT_OVERLAP naming the patients found in more than one split. */
export function assertPatientDisjoint(splits: Partial<Record<Split, readonly DatasetItem[]>>): void {
  const where = new Map<string, Set<Split>>();
  for (const s of ['train', 'val', 'test'] as const) {
    for (const it of splits[s] ?? []) {
      const k = patientKey(it);
      const w = where.get(k);
      if (w) w.add(s);
      else where.set(k, new Set([s]));
    }
  }
  const bad = [...where].filter(([, w]) => w.size > 1);
  if (bad.length === 0) return;
  const shown = bad.slice(0, 10).map(([k, w]) => `${k} (${[...w].join('+')})`).join(', ');
  throw new CovidNetError('E_PATIENT_OVERLAP', `${bad.length} patient(s) in more than one split: ${shown}${bad.length > 10 ? `, … ${bad.length - 10} more` : ''}`);
}

/** `source`: the data's own split column; `generated`: a patient-disjoint split made for a run. */
export type SplitOrigin = 'source' | 'generated';

/** What a run recorded of its splits (the fields of `splits.json` that selection reads). */
export interface RecordedSplits {
  /** The data source the run was trained on (absolute). */
  dataRoot: string;
  /** Absolute folder the `file` paths are relative to. */
  base: string;
  splits: Record<Split, readonly { file: string }[]>;
}

/** How `selectItems` chose: the run's recorded splits, the source's split column, or the whole source. */
export type SelectionKind = 'run-splits' | 'source-split' | 'whole-source';

/** The folder a source's relative paths hang off (a manifest's folder, or the folder itself). */
export async function sourceBase(root: string): Promise<string> {
  const abs = resolve(root);
  const s = await stat(abs).catch(() => undefined);
  return s?.isFile() ? dirname(abs) : abs;
}

/**
 * Split items: the source's own splits where it has them (validation carved from train by patient
 * when it has none), else a seeded patient-disjoint test/val/train split (see `splitDataset`).
 */
export function splitItems(
  items: readonly DatasetItem[],
  opts: { valFraction: number; testFraction: number; seed: number },
): { items: Record<Split, DatasetItem[]>; origin: SplitOrigin } {
  const s = splitDataset([...items], { valFraction: opts.valFraction, testFraction: opts.testFraction, seed: opts.seed });
  return { items: { train: s.train, val: s.val, test: s.test }, origin: items.some((it) => it.split !== undefined) ? 'source' : 'generated' };
}

export interface Selection {
  items: DatasetItem[];
  split: Split | 'all';
  selection: SelectionKind;
  excludedTraining: number;
  warnings: string[];
}

/**
 * The images to evaluate or explain. On the run's own data source, the run's recorded splits
 * decide (so the test split is exactly the images held out at training time); on another source,
 * its split column if it has one, else all of it. Images the run trained or validated on are never
 * counted as test images.
 */
export function selectItems(items: readonly DatasetItem[], root: string, base: string, splits: RecordedSplits | undefined, split: Split | undefined): Selection {
  const warnings: string[] = [];
  const seen = new Set<string>();
  if (splits) {
    for (const s of ['train', 'val'] as const) for (const e of splits.splits[s]) seen.add(resolve(splits.base, e.file));
  }
  const sameSource = splits !== undefined && resolve(root) === splits.dataRoot;
  let chosen: DatasetItem[];
  let sel: SelectionKind;
  let name: Split | 'all';
  if (sameSource) {
    name = split ?? 'test';
    const wanted = new Set(splits.splits[name].map((e) => e.file));
    chosen = items.filter((it) => wanted.has(relative(base, it.file)));
    sel = 'run-splits';
    if (chosen.length < wanted.size) warnings.push(`${wanted.size - chosen.length} ${name} images of the run are no longer in the source`);
  } else if (items.length > 0 && items.some((it) => it.split !== undefined)) {
    name = split ?? 'test';
    chosen = items.filter((it) => it.split === name);
    sel = 'source-split';
  } else {
    if (split !== undefined && split !== 'test') throw optionError('--split', 'no --split (the source has no split column; it is evaluated whole)', split);
    name = 'all';
    chosen = [...items];
    sel = 'whole-source';
  }
  let excludedTraining = 0;
  if (name === 'test' || name === 'all') {
    const before = chosen.length;
    chosen = chosen.filter((it) => !seen.has(resolve(it.file)));
    excludedTraining = before - chosen.length;
    if (excludedTraining > 0) warnings.push(`${excludedTraining} images the run trained or validated on were left out of the test set`);
  }
  return { items: chosen, split: name, selection: sel, excludedTraining, warnings };
}

