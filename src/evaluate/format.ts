/** Aligned text tables of an evaluation (what `covidnet evaluate` prints). */
import { RESEARCH_NOTICE } from '../types.js';
import { isBootstrapInterval, type BootstrapInterval, type Interval, type Metrics } from './metrics.js';
import type { EvalResult } from './evaluate.js';
import type { EvalTrust } from './trust.js';
import type { GroupRow } from './breakdown.js';
import type { AuditResult } from './audit.js';

/** Right-align every column but the first. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, j) => Math.max(...rows.map((r) => (r[j] ?? '').length)));
  return rows.map((r) => r.map((c, j) => (j === 0 ? c.padEnd(widths[j]!) : c.padStart(widths[j]!))).join('  ').trimEnd()).join('\n');
}

const f3 = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : '–');
export const fmtInterval = (i: Interval | BootstrapInterval) => (Number.isFinite(i.value) ? `${f3(i.value)} [${f3(i.lo)}, ${f3(i.hi)}]` : '–');

export function formatMetrics(m: Metrics): string {
  const out: string[] = [];
  out.push(`accuracy           ${fmtInterval(m.accuracy)}  (${m.accuracy.x}/${m.n})`);
  out.push(`balanced accuracy  ${f3(m.balanced_accuracy)}  (mean per-class sensitivity)`);
  out.push('');
  out.push('confusion matrix (rows: true class, columns: predicted), counts | row-normalised');
  const head = ['true \\ predicted', ...m.classes, '|', ...m.classes];
  out.push(table([head, ...m.classes.map((c, i) => [c, ...m.confusion[i]!.map(String), '|', ...m.confusion_normalized[i]!.map(f3)])]));
  out.push('');
  const f1s = m.classes.map((c) => m.per_class[c]!.f1);
  const boot = f1s.find(isBootstrapInterval);
  // evaluation files written before the bootstrap carry Wilson's interval on the F1 ratio
  const f1How = boot ? `F1: percentile bootstrap, ${boot.replicates} resamples of the ${m.n} predictions, seed ${boot.seed}` : 'F1: Wilson on 2TP/(2TP+FP+FN), an approximation';
  out.push(`per class (95% intervals: Wilson for the proportions; ${f1How})`);
  out.push(table([
    ['class', 'n', 'sensitivity', 'specificity', 'PPV', 'F1'],
    ...m.classes.map((c) => {
      const p = m.per_class[c]!;
      return [c, String(p.support), fmtInterval(p.sensitivity), fmtInterval(p.specificity), fmtInterval(p.ppv), fmtInterval(p.f1)];
    }),
  ]));
  return out.join('\n');
}

export function formatEval(r: EvalResult): string {
  const how = { argmax: 'argmax of the softmax', templates: 'nearest class template (learned distance)', 'one-shot': `${r.classes.length}-way one-shot, ${r.trials} trials` }[r.method];
  const lines = [
    `${r.model} run ${r.run}`,
    `data ${r.data.name} (${r.data.root}), split ${r.split} [${r.selection}], ${r.n} ${r.method === 'one-shot' ? 'trials' : 'images'}; method: ${how}`,
    ...r.warnings.map((w) => `note: ${w}`),
    ...(r.excluded.unreadable.length ? [`note: ${r.excluded.unreadable.length} unreadable images skipped`] : []),
    '',
    formatMetrics(r),
    '',
    ...(r.breakdown ? [formatBreakdown(r.breakdown.by, r.breakdown.groups), ''] : []),
    ...(r.trust ? [formatTrust(r.trust, r.n), ''] : []),
    ...(r.file ? [`written: ${r.file}`] : []),
    RESEARCH_NOTICE,
  ];
  return lines.join('\n');
}

const f2 = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(2));
const iv2 = (i: Interval | BootstrapInterval) => (Number.isFinite(i.value) ? `${f3(i.value)} [${f2(i.lo)}, ${f2(i.hi)}]` : '–');
const count = (i: Interval) => `(${i.x}/${i.n})`;

/** The trust part of an evaluation: OOD acceptance, calibration, ROC AUCs, operating points, OOD sets. */
export function formatTrust(t: EvalTrust, n: number): string {
  const out: string[] = [];
  for (const note of t.notes) out.push(`note: ${note}`);
  if (t.ood) {
    const o = t.ood;
    const acc = o.acceptance['ood_score']!;
    out.push(`out-of-distribution detector (ood.json): threshold ${f3(o.threshold)} on ood_score, set to accept ${Math.round(o.target_acceptance * 100)}% of the validation images`);
    out.push(`  accepted as in-distribution here: ${fmtInterval(acc)} ${count(acc)}; each signal at its own threshold: ${o.scores.filter((k) => k !== 'ood_score').map((k) => `${k} ${iv2(o.acceptance[k]!)}`).join(', ')}`);
    out.push(`  accuracy on the accepted images ${iv2(o.accuracy_accepted)} ${count(o.accuracy_accepted)}, on the rejected ${iv2(o.accuracy_rejected)} ${count(o.accuracy_rejected)}`);
  }
  if (t.calibration) {
    const c = t.calibration;
    const params = Object.entries(c.parameters).filter(([, v]) => v !== undefined).map(([k, v]) => `${k} ${v!.toFixed(3)}`).join(', ');
    out.push(`calibration (calibration.json): ${c.method}, ${params}; fitted on ${c.validation.n} validation images`);
    out.push(`  expected calibration error (${c.bins} bins)  validation: ${f3(c.validation.ece_before ?? NaN)} → ${f3(c.validation.ece_after ?? NaN)};  these ${n} images: ${iv2(c.ece_before)} → ${iv2(c.ece_after)}`);
  }
  const rocClasses = Object.keys(t.roc.per_class);
  if (rocClasses.length) {
    const any = t.roc.per_class[rocClasses[0]!]!.auc;
    out.push(`ROC, each class against the rest (${t.roc.scores === 'calibrated' ? 'calibrated probabilities' : 'raw scores'}); AUC, 95% percentile bootstrap (${any.replicates} resamples, seed ${any.seed})`);
    out.push(table([['  class', 'AUC', 'positives', 'negatives'], ...rocClasses.map((c) => { const r = t.roc.per_class[c]!; return [`  ${c}`, fmtInterval(r.auc), String(r.positives), String(r.negatives)]; })]));
  }
  if (t.operating_points?.length) {
    out.push('operating points (threshold on the calibrated probability, chosen on the validation images)');
    out.push(table([
      ['  point', 'threshold', 'val sensitivity', 'val specificity', 'sensitivity here', 'specificity here'],
      ...t.operating_points.map((p) => [`  ${p.spec}`, p.threshold === null ? '–' : f3(p.threshold), iv2(p.validation.sensitivity), iv2(p.validation.specificity), `${fmtInterval(p.test.sensitivity)} ${count(p.test.sensitivity)}`, `${fmtInterval(p.test.specificity)} ${count(p.test.specificity)}`]),
    ]));
    for (const p of t.operating_points) if (p.note) out.push(`  note: ${p.spec}: ${p.note}`);
  }
  const e = t.ood_evaluation;
  if (e) {
    const names = Object.keys(e.kinds[0]?.scores ?? {});
    out.push(`out-of-distribution images: ${e.n} from ${e.sources.join(', ')}${e.unreadable.length ? ` (${e.unreadable.length} unreadable, left out)` : ''}; against the ${e.in_distribution.n} evaluated images`);
    out.push(`  in-distribution acceptance: ${names.map((k) => `${k} ${iv2(e.in_distribution.acceptance[k]!)}`).join(', ')}`);
    out.push('  AUROC [95% bootstrap interval] (1 = every OOD image scores above every evaluated image)');
    out.push(table([['  kind', 'n', ...names], ...e.kinds.map((k) => [`  ${k.kind}`, String(k.n), ...names.map((s) => iv2(k.scores[s]!.auroc))])]));
    out.push('  false-accept rate at the threshold [95% Wilson interval] (share of OOD images taken as chest X-rays)');
    out.push(table([['  kind', 'n', ...names], ...e.kinds.map((k) => [`  ${k.kind}`, String(k.n), ...names.map((s) => iv2(k.scores[s]!.false_accept))])]));
  }
  return out.join('\n');
}

/** Results per group: support, accuracy and each class's sensitivity (with its support). */
export function formatBreakdown(by: string, groups: readonly GroupRow[]): string {
  const classes = Object.keys(groups[0]?.per_class ?? {});
  const cell = (g: GroupRow, c: string) => {
    const p = g.per_class[c];
    if (!p) return '–';
    return p.sensitivity ? `${f3(p.sensitivity.value)} (${p.sensitivity.x}/${p.support})` : '–';
  };
  return [
    `by ${by} (95% Wilson intervals on accuracy; sensitivity with counts)`,
    table([[by, 'n', 'accuracy', ...classes.map((c) => `sens ${c}`)], ...groups.map((g) => [g.group, String(g.support), fmtInterval(g.accuracy), ...classes.map((c) => cell(g, c))])]),
  ].join('\n');
}

/** The shortcut audit as `covidnet audit` prints it. */
export function formatAudit(a: AuditResult): string {
  const p = a.probe.overall;
  const lines = [
    `shortcut audit of ${a.run} on ${a.data} (${a.images} images)`,
    Number.isFinite(p.accuracy)
      ? `source from the embedding (linear probe, ${p.folds}-fold by patient, ${p.n} images, sources ${p.labels.join(', ')}): accuracy ${f3(p.accuracy)} (chance ${f3(p.chance_accuracy)}), balanced ${f3(p.balanced_accuracy)} (chance ${f3(p.chance_balanced_accuracy)})`
      : `source from the embedding: not measurable (fewer than two sources with ${p.folds} images or more)`,
    `source from the true class alone: accuracy ${f3(a.probe.class_only_accuracy)} (what the confound gives away)`,
    ...Object.entries(a.probe.within_class).map(([c, w]) => `  within ${c}: balanced accuracy ${f3(w!.balanced_accuracy)} (chance ${f3(w!.chance_balanced_accuracy)}; ${w!.labels.join(' vs ')})`),
    `test split (${a.test.n} images): net balanced accuracy ${f3(a.test.net.balanced_accuracy)}, source-only baseline ${f3(a.test.source_only.balanced_accuracy)}`,
    a.test.minority_of_source.accuracy
      ? `minority-of-source test images (class under 1/3 of its source): accuracy ${fmtInterval(a.test.minority_of_source.accuracy)} (${a.test.minority_of_source.accuracy.x}/${a.test.minority_of_source.n})`
      : 'minority-of-source test images: none',
    '',
    formatBreakdown('class / source', a.test.by_class_source),
    a.notice,
  ];
  return lines.join('\n');
}
