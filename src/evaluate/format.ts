/** Aligned text tables of an evaluation (what `covidnet evaluate` prints). */
import { RESEARCH_NOTICE } from '../types.js';
import { isBootstrapInterval, type BootstrapInterval, type Interval, type Metrics } from './metrics.js';
import type { EvalResult } from './evaluate.js';

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
  const how = { argmax: 'argmax of the softmax', templates: 'nearest class template (learned distance)', 'one-shot': `3-way one-shot, ${r.trials} trials` }[r.method];
  const lines = [
    `${r.model} run ${r.run}`,
    `data ${r.data.name} (${r.data.root}), split ${r.split} [${r.selection}], ${r.n} ${r.method === 'one-shot' ? 'trials' : 'images'}; method: ${how}`,
    ...r.warnings.map((w) => `note: ${w}`),
    ...(r.excluded.unreadable.length ? [`note: ${r.excluded.unreadable.length} unreadable images skipped`] : []),
    '',
    formatMetrics(r),
    '',
    ...(r.file ? [`written: ${r.file}`] : []),
    RESEARCH_NOTICE,
  ];
  return lines.join('\n');
}
