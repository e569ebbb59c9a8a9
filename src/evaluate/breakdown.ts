/**
 * Results by group (any metadata column; `source` by default) and the two numbers that say how
 * much of a score the source could explain: the source-only baseline (each image gets the most
 * common training class of its source) and the accuracy on images whose class is a minority in
 * their source, where a net that reads the source instead of the lungs must fail.
 */
import { optionError } from '../errors.js';
import { classesOf, type ClassName } from '../types.js';
import type { DatasetItem } from '../data/types.js';
import { wilson, type Interval } from './metrics.js';

export interface GroupedOutcome {
  label: ClassName;
  predicted: ClassName;
  group: string;
}

export interface GroupRow {
  group: string;
  /** Images of the group. */
  support: number;
  accuracy: Interval;
  /** Per true class: images of that class in the group and the share called that class (null where none). */
  per_class: Record<ClassName, { support: number; sensitivity: Interval | null }>;
}

/** The value of `column` for an item: `source`, `label`, `patient_id`, or a manifest column. */
export function groupValue(item: Pick<DatasetItem, 'source' | 'label' | 'patientId' | 'meta'>, column: string): string | undefined {
  if (column === 'source') return item.source;
  if (column === 'label') return item.label;
  if (column === 'patient_id') return item.patientId;
  return item.meta?.[column];
}

/** Check `--by` against a source: some item must have the column. */
export function checkGroupColumn(items: readonly Pick<DatasetItem, 'source' | 'label' | 'patientId' | 'meta'>[], column: string): void {
  if (items.some((it) => groupValue(it, column) !== undefined)) return;
  const cols = new Set<string>(['source', 'label', 'patient_id']);
  for (const it of items) for (const k of Object.keys(it.meta ?? {})) cols.add(k);
  throw optionError('--by', `a column of the source (${[...cols].join(', ')})`, column);
}

/** One row per group (sorted by support, largest first), Wilson intervals; `per_class` over `classes` (default: those in the rows). */
export function breakdown(rows: readonly GroupedOutcome[], classes: readonly ClassName[] = classesOf(rows.flatMap((r) => [r.label, r.predicted]))): GroupRow[] {
  const groups = new Map<string, GroupedOutcome[]>();
  for (const r of rows) {
    const g = groups.get(r.group);
    if (g) g.push(r);
    else groups.set(r.group, [r]);
  }
  return [...groups]
    .map(([group, rs]) => {
      const per_class = Object.fromEntries(
        classes.map((c) => {
          const of = rs.filter((r) => r.label === c);
          return [c, { support: of.length, sensitivity: of.length ? wilson(of.filter((r) => r.predicted === c).length, of.length) : null }];
        }),
      ) as GroupRow['per_class'];
      return { group, support: rs.length, accuracy: wilson(rs.filter((r) => r.label === r.predicted).length, rs.length), per_class };
    })
    .sort((a, b) => b.support - a.support || (a.group < b.group ? -1 : 1));
}

/** Class counts per source in the training images: the table the two confound measures read (every record has the same classes, in `classesOf` order). */
export type SourceClassCounts = Map<string, Record<ClassName, number>>;

export function sourceClassCounts(train: readonly { label: ClassName; source: string }[]): SourceClassCounts {
  const m: SourceClassCounts = new Map();
  const classes = classesOf(train.map((it) => it.label));
  for (const it of train) {
    const c = m.get(it.source) ?? (Object.fromEntries(classes.map((k) => [k, 0])) as Record<ClassName, number>);
    c[it.label] += 1;
    m.set(it.source, c);
  }
  return m;
}

/**
 * The source-only classifier: the most common training class of the image's source (ties to the
 * rarer class, as in the split); a source not seen in training gets the most common class overall.
 */
export function sourceOnlyPredictions(counts: SourceClassCounts, images: readonly { source: string }[]): ClassName[] {
  const classes = countedClasses(counts);
  const total = Object.fromEntries(classes.map((k) => [k, 0])) as Record<ClassName, number>;
  for (const c of counts.values()) for (const k of classes) total[k]! += c[k]!;
  const top = (c: Record<ClassName, number>): ClassName => [...classes].reverse().reduce((b, k) => (c[k]! > c[b]! ? k : b), classes[classes.length - 1]!);
  return images.map((im) => top(counts.get(im.source) ?? total));
}

/**
 * Images whose class makes up less than 1/3 (one over the number of classes) of their source's
 * training images: where class and source are not confounded. A net that recognises the source
 * instead of the disease gets these wrong. Images of a source unseen in training are included.
 */
export function minorityOfSource(counts: SourceClassCounts, image: { label: ClassName; source: string }): boolean {
  const c = counts.get(image.source);
  if (!c) return true;
  const classes = countedClasses(counts);
  const n = classes.reduce((s, k) => s + c[k]!, 0);
  return (c[image.label] ?? 0) / n < 1 / classes.length;
}

function countedClasses(counts: SourceClassCounts): ClassName[] {
  const first = counts.values().next();
  return first.done ? [] : Object.keys(first.value);
}
