/**
 * The analysis of an experiment folder: read every finished cell (test predictions, audit, the
 * training counts from splits.json), compute the statistics (src/evaluate/experiment.ts), write
 * `analysis.json` and the report (src/report/experiment.ts). Cells not finished are listed, not
 * guessed; a done cell missing its audit gets it here (an experiment run before the audit existed).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CovidNetError } from '../../errors.js';
import { writeJsonAtomic } from '../../run/atomic.js';
import { readSplits } from '../../run/files.js';
import { RESEARCH_NOTICE, classesOf, type ClassName } from '../../types.js';
import type { AuditResult } from '../../evaluate/audit.js';
import { auditRun } from '../../evaluate/audit.js';
import { summariseExperiment, type CellResult, type ExperimentStats } from '../../evaluate/experiment.js';
import { table } from '../../evaluate/format.js';
import { writeExperimentReport } from '../../report/experiment.js';
import { AUDIT_FILE, cellDir, readCellEval, readCellRecord } from './cell.js';
import { expandGrid } from './grid.js';
import { readExperimentFile, type ExperimentFile } from './runner.js';

export const ANALYSIS_FILE = 'analysis.json';

export interface ExperimentAnalysis extends ExperimentStats {
  out: string;
  experiment: ExperimentFile;
  /** Cells not (yet) finished, with their status. */
  missing: { id: string; status: string }[];
  report: string;
  notice: string;
}

export async function analyzeExperiment(out: string, opts: { backend?: string | undefined; threads?: number | undefined; cacheDir?: string | undefined } = {}): Promise<ExperimentAnalysis> {
  const experiment = await readExperimentFile(out);
  // search cells never see the test split: their table is collectSearch's (src/workflows/search.ts)
  if (experiment.kind === 'search') throw new CovidNetError('E_RUN', 'a search folder has validation numbers only, no test analysis: its table is search.json (covidnet experiment collect prints it)', { file: out });
  const specs = expandGrid(experiment.grid);
  const cells: CellResult[] = [];
  const missing: ExperimentAnalysis['missing'] = [];
  for (const spec of specs) {
    const dir = cellDir(out, spec.id);
    const rec = await readCellRecord(dir);
    if (rec?.status !== 'done') {
      missing.push({ id: spec.id, status: rec?.status ?? 'not started' });
      continue;
    }
    const ev = await readCellEval(dir);
    const splits = await readSplits(dir);
    const trainCounts = Object.fromEntries(classesOf(splits.splits.train.map((e) => e.label)).map((c) => [c, splits.splits.train.filter((e) => e.label === c).length])) as Record<ClassName, number>;
    let audit: AuditResult;
    try {
      audit = JSON.parse(await readFile(join(dir, AUDIT_FILE), 'utf8')) as AuditResult;
    } catch {
      audit = await auditRun({ run: dir, data: spec.config.data, backend: opts.backend, threads: opts.threads, cacheDir: opts.cacheDir, seed: spec.seed });
      await writeJsonAtomic(join(dir, AUDIT_FILE), audit);
    }
    cells.push({ id: spec.id, net: spec.net, seed: spec.seed, splitSeed: spec.splitSeed, perClass: spec.perClass, trainCounts, predictions: ev.predictions, audit });
  }
  if (cells.length === 0) throw new CovidNetError('E_RUN', 'no finished cell to analyse yet', { file: out });
  const stats = summariseExperiment(cells, { nets: experiment.grid.nets.map((n) => n.name) });
  const report = await writeExperimentReport(out, { ...stats, experiment, missing });
  const analysis: ExperimentAnalysis = { ...stats, out, experiment, missing, report, notice: RESEARCH_NOTICE };
  await writeJsonAtomic(join(out, ANALYSIS_FILE), analysis);
  return analysis;
}

const f3 = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : '–');
const mi = (s: { mean: number; lo: number; hi: number; n: number }) => (s.n > 1 ? `${f3(s.mean)} [${f3(s.lo)}, ${f3(s.hi)}]` : f3(s.mean));

/** The tables `covidnet experiment` prints. */
export function formatAnalysis(a: ExperimentAnalysis): string {
  const lines: string[] = [];
  lines.push(`${a.experiment.kind} experiment ${a.out}: ${a.configs.reduce((s, c) => s + c.cells.length, 0)} cells analysed${a.missing.length ? `, ${a.missing.length} not finished (${a.missing.map((m) => m.id).join(', ')})` : ''}`);
  lines.push('mean across seeds [95% t interval]');
  lines.push(
    table([
      ['config', 'cells', 'train/class', 'accuracy', 'balanced accuracy', ...a.classes.map((c) => `sens ${c}`)],
      ...a.configs.map((c) => [c.key, String(c.cells.length), c.trainPerClass.toFixed(0), mi(c.accuracy), mi(c.balanced_accuracy), ...a.classes.map((k) => mi(c.sensitivity[k]!))]),
    ]),
  );
  if (a.comparisons.length) {
    lines.push('');
    lines.push(`paired differences (bootstrap over test images and seeds, ${a.bootstrap.replicates} resamples; McNemar exact per seed pair)`);
    for (const c of a.comparisons) lines.push(`  ${c.reading}`);
  }
  const audited = a.configs.filter((c) => c.audit);
  if (audited.length) {
    lines.push('');
    lines.push('shortcut audit (probe: source from the embedding, 5-fold by patient; chance = majority source share)');
    lines.push(
      table([
        ['config', 'probe acc.', 'chance', 'within-class probe bal. acc. (chance)', 'source-only bal. acc.', 'net bal. acc.', 'minority-of-source acc.'],
        ...audited.map((c) => {
          const au = c.audit!;
          const within = a.classes.filter((k) => au.within_class[k]).map((k) => `${k} ${f3(au.within_class[k]!.balanced_accuracy.mean)} (${f3(au.within_class[k]!.chance)})`).join('; ');
          return [c.key, mi(au.probe_accuracy), f3(au.probe_chance_accuracy), within || '–', f3(au.source_only_balanced_accuracy.mean), mi(c.balanced_accuracy), `${mi(au.minority_of_source_accuracy)} (${au.minority_of_source_pooled.correct}/${au.minority_of_source_pooled.n})`];
        }),
      ]),
    );
  }
  lines.push('');
  lines.push(`report: ${a.report}`);
  lines.push(RESEARCH_NOTICE);
  return lines.join('\n');
}
