/** `covidnet report RUN [RUN...]`: HTML report per run (+ PNG figures), and a comparison page for several. */
import type { Command } from 'commander';
import { backendOption, threadsOption } from '../options.js';
import { numberOption } from '../../config.js';

interface ReportCliOptions {
  out?: string;
  gradcam?: number;
  backend?: string;
  threads?: number;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('report')
    .description('self-contained HTML report per run (training curves, confusion matrices, per-class rates, Grad-CAM samples, config) and a comparison page for several runs')
    .argument('<runs...>', 'run folders or experiment folders (statistics and an experiment report)')
    .option('--out <dir>', 'folder of the comparison page (several runs; default: <first run>/../comparison)')
    .option('--gradcam <n>', 'Grad-CAM samples per class and outcome (0 = none)', numberOption('--gradcam', 'int'), 1)
    .addOption(backendOption())
    .addOption(threadsOption())
    .option('--json', 'print the written paths as JSON')
    .action(async (runs: string[], o: ReportCliOptions) => {
      const { optionError } = await import('../../errors.js');
      const { RESEARCH_NOTICE } = await import('../../types.js');
      if (o.gradcam !== undefined && o.gradcam < 0) throw optionError('--gradcam', 'a number of samples, 0 or more', o.gradcam);
      const { writeRunReport, writeComparisonReport } = await import('../../report/index.js');
      const { dirname, join, resolve } = await import('node:path');
      const { existsSync } = await import('node:fs');
      // an experiment folder (experiment.json) gets its statistics and experiment report
      const experiments = runs.filter((r) => existsSync(join(r, 'experiment.json')));
      runs = runs.filter((r) => !experiments.includes(r));
      const analyses: { out: string; report: string }[] = [];
      if (experiments.length) {
        const { analyzeExperiment, formatAnalysis } = await import('../../workflows/experiment/analyze.js');
        for (const x of experiments) {
          const a = await analyzeExperiment(x, { backend: o.backend, threads: o.threads });
          analyses.push({ out: a.out, report: a.report });
          if (!o.json) process.stdout.write(formatAnalysis(a) + '\n');
        }
      }
      const reports = [];
      for (const run of runs) reports.push(await writeRunReport(run, { gradcam: o.gradcam, backend: o.backend, threads: o.threads }));
      let comparison: { html: string; figures: string[] } | undefined;
      if (runs.length > 1) {
        const out = o.out ?? join(dirname(resolve(runs[0]!)), 'comparison');
        comparison = await writeComparisonReport(runs, { out });
      }
      if (o.json) {
        process.stdout.write(JSON.stringify({ reports, comparison, experiments: analyses, notice: RESEARCH_NOTICE }) + '\n');
        return;
      }
      const lines: string[] = [];
      if (runs.length === 0) return;
      for (const r of reports) {
        lines.push(`report: ${r.html} (${r.figures.length} PNG figures)`);
        for (const n of r.notes) lines.push(`  note: ${n}`);
      }
      if (comparison) lines.push(`comparison: ${comparison.html}`);
      lines.push(RESEARCH_NOTICE);
      process.stdout.write(lines.join('\n') + '\n');
    });
}
