/**
 * Shortcut audit of a run: is the net reading the source instead of the lungs? Three numbers:
 * - a linear probe of the source from the run's 256-unit embeddings, cross-validated by patient
 *   over every labelled image of the source (all splits: the question is what the features hold),
 *   overall and within each class (within a class the source says nothing about the disease, so
 *   a probe above chance there means the embedding carries the source on its own);
 * - the source-only baseline on the test split: each image gets the most common training class
 *   of its source (the whole training split, also the images a `--per-class` run left out); a
 *   net not above it has not shown it reads more than the source;
 * - accuracy on the test images whose class is a minority in their source (in cxr-mini: normal
 *   and pneumonia images from the COVID-19 collections), and per class × source.
 */
import { relative } from 'node:path';
import { loadDataset, patientKey, prepareImages, sourceBase } from '../data/index.js';
import type { DatasetItem } from '../data/types.js';
import { CovidNetError } from '../errors.js';
import { argmax } from '../model/infer.js';
import { readSplits } from '../run/files.js';
import { RunModel } from '../run/run-model.js';
import { classesOf, classIndex, RESEARCH_NOTICE, type ClassName, type Split } from '../types.js';
import { breakdown, minorityOfSource, sourceClassCounts, sourceOnlyPredictions, type GroupRow } from './breakdown.js';
import { computeMetrics, wilson, type Interval } from './metrics.js';
import { linearProbe, type ProbeResult } from './probe.js';

export interface AuditOptions {
  run: string;
  data: string;
  backend?: string | undefined;
  threads?: number | undefined;
  cacheDir?: string | undefined;
  batch?: number | undefined;
  /** Seed of the probe's folds (default 1). */
  seed?: number | undefined;
  folds?: number | undefined;
}

export interface AuditResult {
  run: string;
  data: string;
  /** Images the probe saw (every readable labelled image of the source). */
  images: number;
  probe: {
    /** The source from the embedding, every class together. */
    overall: ProbeResult;
    /** Predicting the source from the true class alone (the class's most common source): what the confound gives away for free. */
    class_only_accuracy: number;
    /** The source within each class (classes with at least two sources of `folds` images). */
    within_class: Partial<Record<ClassName, ProbeResult>>;
  };
  test: {
    n: number;
    net: { accuracy: number; balanced_accuracy: number };
    source_only: { accuracy: number; balanced_accuracy: number };
    /** Test images whose class is under 1/3 of their source's training images. */
    minority_of_source: { n: number; accuracy: Interval | null; files: string[] };
    /** Per `class / source` group. */
    by_class_source: GroupRow[];
  };
  notice: string;
}

export async function auditRun(opts: AuditOptions): Promise<AuditResult> {
  const rm = await RunModel.open(opts.run, { backend: opts.backend, threads: opts.threads });
  try {
    const splits = await readSplits(opts.run);
    const dataset = await loadDataset(opts.data, { extraClasses: rm.classes });
    const base = await sourceBase(dataset.root);
    if (base !== splits.base) throw new CovidNetError('E_RUN', `the audit needs the run's own data source (${splits.dataRoot})`, { file: opts.data });
    const splitOf = new Map<string, Split>();
    for (const s of ['train', 'val', 'test'] as const) for (const e of splits.splits[s]) splitOf.set(e.file, s);
    const set = await prepareImages(dataset.items, { size: rm.preprocess.size, crop: rm.preprocess.crop }, { ...(opts.cacheDir !== undefined ? { cacheDir: opts.cacheDir } : {}), ...(opts.threads !== undefined ? { threads: opts.threads } : {}) });
    if (set.items.length === 0) throw new CovidNetError('E_SOURCE', 'no readable images to audit', { file: opts.data });
    const f = await rm.featureImages({ set }, opts.batch);
    const items = set.items;
    const folds = opts.folds ?? 5;
    const seed = opts.seed ?? 1;
    const groups = items.map((it) => patientKey(it));
    const overall = linearProbe(f.embeddings, items.map((it) => it.source), groups, { folds, seed });
    // the class's most common source, as a predictor of the source
    const topSource = new Map<ClassName, string>();
    const dataClasses = classesOf(dataset.items.map((it) => it.label));
    for (const c of dataClasses) {
      const n = new Map<string, number>();
      for (const it of items) if (it.label === c) n.set(it.source, (n.get(it.source) ?? 0) + 1);
      const best = [...n].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0];
      if (best) topSource.set(c, best[0]);
    }
    const classOnly = items.filter((it) => topSource.get(it.label) === it.source).length / items.length;
    const within: AuditResult['probe']['within_class'] = {};
    for (const c of dataClasses) {
      const rows = items.map((it, i) => [it, i] as const).filter(([it]) => it.label === c);
      const p = linearProbe(rows.map(([, i]) => f.embeddings[i]!), rows.map(([it]) => it.source), rows.map(([, i]) => groups[i]!), { folds, seed });
      if (p.labels.length >= 2) within[c] = p;
    }

    const rel = (it: DatasetItem) => relative(base, it.file);
    // the confound is a property of the source, not of a --per-class subset: the whole training split counts
    const unused = new Set([...(splits.unused ?? []), ...(splits.otherClasses?.train ?? [])].map((e) => e.file));
    const trainItems = items.filter((it) => splitOf.get(rel(it)) === 'train' || unused.has(rel(it)));
    const testIdx = items.map((it, i) => (splitOf.get(rel(it)) === 'test' ? i : -1)).filter((i) => i >= 0);
    const counts = sourceClassCounts(trainItems);
    // the net is scored on the test images of the classes it has
    const classes = rm.classes;
    const test = testIdx.filter((i) => classes.includes(items[i]!.label)).map((i) => ({ item: items[i]!, predicted: classes[argmax(f.scores.rows[i]!)]! }));
    const truth = test.map((t) => classIndex(t.item.label, classes));
    const net = computeMetrics(truth, test.map((t) => classIndex(t.predicted, classes)), classes);
    const so = sourceOnlyPredictions(sourceClassCounts(trainItems.filter((it) => classes.includes(it.label))), test.map((t) => t.item));
    const base0 = computeMetrics(truth, so.map((c) => classIndex(c, classes)), classes);
    const minority = test.filter((t) => minorityOfSource(counts, t.item));
    return {
      run: opts.run,
      data: opts.data,
      images: items.length,
      probe: { overall, class_only_accuracy: classOnly, within_class: within },
      test: {
        n: test.length,
        net: { accuracy: net.accuracy.value, balanced_accuracy: net.balanced_accuracy },
        source_only: { accuracy: base0.accuracy.value, balanced_accuracy: base0.balanced_accuracy },
        minority_of_source: {
          n: minority.length,
          accuracy: minority.length ? wilson(minority.filter((t) => t.predicted === t.item.label).length, minority.length) : null,
          files: minority.map((t) => rel(t.item)),
        },
        by_class_source: breakdown(test.map((t) => ({ label: t.item.label, predicted: t.predicted, group: `${t.item.label} / ${t.item.source}` }))),
      },
      notice: RESEARCH_NOTICE,
    };
  } finally {
    rm.dispose();
  }
}
