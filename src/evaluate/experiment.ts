/**
 * The statistics of an experiment, from its cells' test predictions and audits (pure: the
 * workflow reads the files). A configuration is a net at a training-set size; its cells are the
 * seeds (training seeds × split seeds). Per configuration: mean, sd and 95% t interval across
 * cells of accuracy, balanced accuracy, each class's sensitivity and PPV; results per source; the
 * shortcut audit's numbers. Between configurations: paired differences in balanced accuracy (each
 * net against the single net at the same size and seeds) with a bootstrap interval and McNemar's
 * exact test per seed pair.
 */
import { classesOf, classIndex, type ClassName } from '../types.js';
import type { AuditResult } from './audit.js';
import { breakdown } from './breakdown.js';
import { computeMetrics } from './metrics.js';
import { mcnemarExact, pairedBootstrap, seedSummary as rawSummary, type McNemar, type PairedDifference, type SeedSummary } from './stats.js';

export interface CellPrediction {
  file: string;
  label: ClassName;
  predicted: ClassName;
  source?: string | undefined;
}

export interface CellResult {
  id: string;
  net: string;
  seed: number;
  splitSeed: number;
  /** Training images per class asked for (null: all). */
  perClass: number | null;
  /** Training images per class the run had. */
  trainCounts: Record<ClassName, number>;
  predictions: readonly CellPrediction[];
  audit?: AuditResult | undefined;
}

export interface ConfigSummary {
  key: string;
  net: string;
  perClass: number | null;
  /** Mean training images per class over the cells (the learning curve's x). */
  trainPerClass: number;
  cells: string[];
  accuracy: SeedSummary;
  balanced_accuracy: SeedSummary;
  sensitivity: Record<ClassName, SeedSummary>;
  ppv: Record<ClassName, SeedSummary>;
  /** Test images per cell (the same for cells of one split). */
  n_test: number[];
  by_source: SourceSummary[];
  audit?: AuditSummary;
}

export interface SourceSummary {
  source: string;
  /** Test images of the source per cell (mean over cells). */
  support: number;
  accuracy: SeedSummary;
  /** Per class: images per cell and the mean sensitivity across cells (null where none). */
  per_class: Record<ClassName, { support: number; sensitivity: SeedSummary | null }>;
}

export interface AuditSummary {
  cells: number;
  probe_accuracy: SeedSummary;
  probe_balanced_accuracy: SeedSummary;
  probe_chance_accuracy: number;
  probe_chance_balanced_accuracy: number;
  probe_sources: string[];
  class_only_accuracy: number;
  within_class: Partial<Record<ClassName, { balanced_accuracy: SeedSummary; chance: number; sources: string[] }>>;
  source_only_balanced_accuracy: SeedSummary;
  minority_of_source_accuracy: SeedSummary;
  /** Pooled over cells: correct / images among the minority-of-source test images. */
  minority_of_source_pooled: { correct: number; n: number };
  minority_of_source_per_cell: number;
}

export interface PairComparison {
  /** `a − b` in balanced accuracy. */
  a: string;
  b: string;
  perClass: number | null;
  difference: PairedDifference;
  /** Per seed pair. */
  mcnemar: (McNemar & { cell_a: string; cell_b: string; accuracy_a: number; accuracy_b: number })[];
  /** Seed pairs with McNemar p < 0.05. */
  mcnemar_significant: number;
  reading: string;
}

export interface ExperimentStats {
  /** The classes of the cells' test images (the study's three unless the cells were trained on others). */
  classes: ClassName[];
  configs: ConfigSummary[];
  comparisons: PairComparison[];
  /** Nets in the grid's order. */
  nets: string[];
  sizes: (number | null)[];
  bootstrap: { replicates: number; seed: number };
}

/** Every summarised metric here is a rate in [0, 1]. */
const seedSummary = (v: readonly number[]): SeedSummary => rawSummary(v, [0, 1]);

const configKey = (net: string, perClass: number | null) => (perClass === null ? net : `${net}@${perClass}`);

export function summariseExperiment(cells: readonly CellResult[], opts: { nets?: readonly string[]; replicates?: number; seed?: number } = {}): ExperimentStats {
  const nets = opts.nets ? [...opts.nets] : [...new Set(cells.map((c) => c.net))];
  const sizes = [...new Set(cells.map((c) => c.perClass))].sort((a, b) => (a === null ? 1 : b === null ? -1 : a - b));
  const classes = classesOf(cells.flatMap((c) => c.predictions.flatMap((p) => [p.label, p.predicted])));
  const configs: ConfigSummary[] = [];
  for (const perClass of sizes) {
    for (const net of nets) {
      const of = cells.filter((c) => c.net === net && c.perClass === perClass);
      if (of.length) configs.push(summariseConfig(net, perClass, of, classes));
    }
  }
  const comparisons: PairComparison[] = [];
  const reference = nets[0]!;
  for (const perClass of sizes) {
    for (const net of nets.slice(1)) {
      const c = comparePair(net, reference, perClass, cells, classes, opts);
      if (c) comparisons.push(c);
    }
  }
  return { classes, configs, comparisons, nets, sizes, bootstrap: { replicates: opts.replicates ?? 2000, seed: opts.seed ?? 1 } };
}

function summariseConfig(net: string, perClass: number | null, of: readonly CellResult[], classes: readonly ClassName[]): ConfigSummary {
  const ms = of.map((c) => computeMetrics(c.predictions.map((p) => classIndex(p.label, classes)), c.predictions.map((p) => classIndex(p.predicted, classes)), classes, { replicates: 1 }));
  const perClassOf = (f: (m: (typeof ms)[number], c: ClassName) => number) => Object.fromEntries(classes.map((c) => [c, seedSummary(ms.map((m) => f(m, c)))])) as Record<ClassName, SeedSummary>;
  const trained = (c: CellResult) => Object.keys(c.trainCounts);
  const summary: ConfigSummary = {
    key: configKey(net, perClass),
    net,
    perClass,
    trainPerClass: of.reduce((s, c) => s + trained(c).reduce((t, k) => t + c.trainCounts[k]!, 0) / Math.max(1, trained(c).length), 0) / of.length,
    cells: of.map((c) => c.id),
    accuracy: seedSummary(ms.map((m) => m.accuracy.value)),
    balanced_accuracy: seedSummary(ms.map((m) => m.balanced_accuracy)),
    sensitivity: perClassOf((m, c) => m.per_class[c]!.sensitivity.value),
    ppv: perClassOf((m, c) => m.per_class[c]!.ppv.value),
    n_test: of.map((c) => c.predictions.length),
    by_source: sourceSummaries(of, classes),
  };
  const audits = of.map((c) => c.audit).filter((a): a is AuditResult => a !== undefined);
  if (audits.length) summary.audit = summariseAudits(audits, classes);
  return summary;
}

function sourceSummaries(of: readonly CellResult[], classes: readonly ClassName[]): SourceSummary[] {
  const rows = of.map((c) => breakdown(c.predictions.map((p) => ({ label: p.label, predicted: p.predicted, group: p.source ?? 'unknown' })), classes));
  const sources = [...new Set(rows.flat().map((r) => r.group))];
  return sources
    .map((source): SourceSummary => {
      const mine = rows.map((r) => r.find((g) => g.group === source)).filter((g) => g !== undefined);
      const per_class = Object.fromEntries(
        classes.map((k) => {
          const s = mine.map((g) => g.per_class[k]!);
          const support = s.reduce((a, x) => a + x.support, 0) / mine.length;
          const sens = s.filter((x) => x.sensitivity !== null).map((x) => x.sensitivity!.value);
          return [k, { support, sensitivity: sens.length ? seedSummary(sens) : null }];
        }),
      ) as SourceSummary['per_class'];
      return { source, support: mine.reduce((a, g) => a + g.support, 0) / mine.length, accuracy: seedSummary(mine.map((g) => g.accuracy.value)), per_class };
    })
    .sort((a, b) => b.support - a.support);
}

function summariseAudits(audits: readonly AuditResult[], classes: readonly ClassName[]): AuditSummary {
  const within: AuditSummary['within_class'] = {};
  for (const c of classes) {
    const ps = audits.map((a) => a.probe.within_class[c]).filter((p) => p !== undefined);
    if (ps.length) within[c] = { balanced_accuracy: seedSummary(ps.map((p) => p.balanced_accuracy)), chance: ps[0]!.chance_balanced_accuracy, sources: ps[0]!.labels };
  }
  const minority = audits.map((a) => a.test.minority_of_source);
  return {
    cells: audits.length,
    probe_accuracy: seedSummary(audits.map((a) => a.probe.overall.accuracy)),
    probe_balanced_accuracy: seedSummary(audits.map((a) => a.probe.overall.balanced_accuracy)),
    probe_chance_accuracy: audits[0]!.probe.overall.chance_accuracy,
    probe_chance_balanced_accuracy: audits[0]!.probe.overall.chance_balanced_accuracy,
    probe_sources: audits[0]!.probe.overall.labels,
    class_only_accuracy: audits[0]!.probe.class_only_accuracy,
    within_class: within,
    source_only_balanced_accuracy: seedSummary(audits.map((a) => a.test.source_only.balanced_accuracy)),
    minority_of_source_accuracy: seedSummary(minority.map((m) => m.accuracy?.value ?? NaN)),
    minority_of_source_pooled: { correct: minority.reduce((s, m) => s + (m.accuracy?.x ?? 0), 0), n: minority.reduce((s, m) => s + m.n, 0) },
    minority_of_source_per_cell: minority.reduce((s, m) => s + m.n, 0) / minority.length,
  };
}

function comparePair(a: string, b: string, perClass: number | null, cells: readonly CellResult[], classes: readonly ClassName[], opts: { replicates?: number; seed?: number }): PairComparison | undefined {
  const key = (c: CellResult) => `${c.splitSeed}/${c.seed}`;
  const bs = new Map(cells.filter((c) => c.net === b && c.perClass === perClass).map((c) => [key(c), c]));
  const pairs = cells.filter((c) => c.net === a && c.perClass === perClass && bs.has(key(c))).map((ca) => [ca, bs.get(key(ca))!] as const);
  if (pairs.length === 0) return undefined;
  const aligned = pairs.map(([ca, cb]) => {
    const byFile = new Map(cb.predictions.map((p) => [p.file, p]));
    const common = ca.predictions.filter((p) => byFile.has(p.file));
    return { ca, cb, common, other: common.map((p) => byFile.get(p.file)!) };
  });
  const difference = pairedBootstrap(
    aligned.map((x) => ({ group: String(x.ca.splitSeed), truth: x.common.map((p) => classIndex(p.label, classes)), a: x.common.map((p) => classIndex(p.predicted, classes)), b: x.other.map((p) => classIndex(p.predicted, classes)) })),
    classes.length,
    opts,
  );
  const mcnemar = aligned.map((x) => {
    const ac = x.common.map((p) => p.predicted === p.label);
    const bc = x.other.map((p) => p.predicted === p.label);
    const acc = (v: boolean[]) => v.filter(Boolean).length / v.length;
    return { ...mcnemarExact(ac, bc), cell_a: x.ca.id, cell_b: x.cb.id, accuracy_a: acc(ac), accuracy_b: acc(bc) };
  });
  const sig = mcnemar.filter((m) => m.p < 0.05).length;
  const d = difference;
  const f = (v: number) => (v >= 0 ? '+' : '') + v.toFixed(3);
  const at = perClass === null ? 'all training images' : `${perClass} training images per class`;
  const reading = d.significant
    ? `${a} − ${b} at ${at}: ${f(d.difference)} balanced accuracy [${f(d.lo)}, ${f(d.hi)}], significant (the 95% interval excludes 0; McNemar p < 0.05 in ${sig} of ${mcnemar.length} seed pairs)`
    : `${a} − ${b} at ${at}: ${f(d.difference)} balanced accuracy [${f(d.lo)}, ${f(d.hi)}], not significant (the 95% interval includes 0; McNemar p < 0.05 in ${sig} of ${mcnemar.length} seed pairs)`;
  return { a, b, perClass, difference, mcnemar, mcnemar_significant: sig, reading };
}
