/**
 * `covidnet ood fit --run RUN`: fit (or refit) a run's out-of-distribution detector (ood.json) and
 * its calibration (calibration.json) from its training and validation images; training does this
 * at its end, so this is for runs trained before, or to refit.
 * `covidnet ood synth --out DIR`: write out-of-distribution test images, one folder per kind, for
 * `covidnet evaluate --ood DIR`. Thin layer over src/run/trust.ts and src/trust.
 */
import type { Command } from 'commander';
import { backendOption, cacheDirOption, inferenceBatchOption, runOption, threadsOption } from '../options.js';
import { numberOption } from '../../config.js';

interface FitCliOptions {
  run?: string;
  acceptance?: number;
  batch?: number;
  backend?: string;
  threads?: number;
  cacheDir?: string;
  json?: boolean;
}

interface SynthCliOptions {
  out?: string;
  perKind?: number;
  seed?: number;
  kinds?: string;
  from?: string;
  json?: boolean;
}

export function register(program: Command): void {
  const cmd = program.command('ood').description('out-of-distribution detection and calibration: refit them for a run, make test images');
  cmd
    .command('fit')
    .description("fit a run's out-of-distribution detector (ood.json) and calibration (calibration.json) on its training and validation images")
    .option('--run <run>', 'run folder')
    .option('--acceptance <f>', 'share of the validation images the threshold accepts', numberOption('--acceptance', 'float'), 0.95)
    .addOption(inferenceBatchOption())
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(cacheDirOption())
    .option('--json', 'print the summary as JSON')
    .action(async (o: FitCliOptions) => {
      const { optionError } = await import('../../errors.js');
      const { RESEARCH_NOTICE } = await import('../../types.js');
      if (!o.run) throw optionError('--run', 'a run folder', o.run);
      if (o.acceptance !== undefined && !(o.acceptance > 0 && o.acceptance <= 1)) throw optionError('--acceptance', 'a fraction in (0, 1]', o.acceptance);
      const { fitRunTrust } = await import('../../run/trust.js');
      const r = await fitRunTrust(o.run, { acceptance: o.acceptance, batch: o.batch, backend: o.backend, threads: o.threads, cacheDir: o.cacheDir });
      const v = r.calibration.validation;
      const summary = {
        run: r.run,
        model: r.model,
        files: r.files,
        images: r.counts,
        unreadable: r.unreadable,
        ood: {
          threshold: r.ood.threshold,
          target_acceptance: r.ood.target_acceptance,
          validation_accepted: r.ood.validation,
          signals: r.ood.signals,
          shrinkage: { mahalanobis: r.ood.gaussians.mahalanobis.shrinkage, mahalanobis_stem: r.ood.gaussians.mahalanobis_stem.shrinkage },
        },
        calibration: { method: r.calibration.method, parameters: r.calibration.parameters, validation: v },
      };
      if (o.json) {
        process.stdout.write(JSON.stringify(summary) + '\n');
        return;
      }
      const f3 = (x: number | null) => (x === null ? '–' : x.toFixed(3));
      const params = Object.entries(r.calibration.parameters).map(([k, x]) => `${k} ${(x as number).toFixed(3)}`).join(', ');
      const lines = [
        `${r.model} run ${r.run}: fitted on ${r.counts.train} training and ${r.counts.val} validation images${r.unreadable.length ? ` (${r.unreadable.length} unreadable, left out)` : ''}`,
        `out-of-distribution detector: signals ${Object.keys(r.ood.signals).join(', ')}; covariance shrinkage ${summary.ood.shrinkage.mahalanobis.toFixed(3)} (embedding), ${summary.ood.shrinkage.mahalanobis_stem.toFixed(3)} (stem)`,
        `  threshold ${r.ood.threshold.toFixed(3)} on ood_score: ${r.ood.validation.accepted}/${r.ood.validation.n} validation images accepted (target ${Math.round(r.ood.target_acceptance * 100)}%)`,
        `calibration: ${r.calibration.method} (${params}); validation ECE ${f3(v.ece_before)} → ${f3(v.ece_after)}, NLL ${f3(v.nll_before)} → ${f3(v.nll_after)}`,
        `written: ${r.files.join(', ')}`,
        RESEARCH_NOTICE,
      ];
      process.stdout.write(lines.join('\n') + '\n');
    });
  cmd
    .command('synth')
    .description('write out-of-distribution test images (noise, gradients, textures, text, shapes; with --from: inverted, rotated, upside-down chest X-rays), one folder per kind')
    .option('--out <dir>', 'output folder')
    .option('--per-kind <n>', 'images per kind', numberOption('--per-kind', 'int'), 24)
    .addOption(runOption('seed', { help: 'seed of the generated images', default: 1 }))
    .option('--kinds <list>', 'generated kinds, comma-separated (default all)')
    .option('--from <src>', 'a data source of chest X-rays for the inverted / rotated / upside-down kinds')
    .option('--json', 'print the counts as JSON')
    .action(async (o: SynthCliOptions) => {
      const { optionError } = await import('../../errors.js');
      if (!o.out) throw optionError('--out', 'an output folder', o.out);
      const { writeOodImages, GENERATED_OOD_KINDS } = await import('../../trust/ood-images.js');
      const kinds = o.kinds?.split(',').map((k) => k.trim()).filter(Boolean);
      for (const k of kinds ?? []) if (!(GENERATED_OOD_KINDS as readonly string[]).includes(k)) throw optionError('--kinds', GENERATED_OOD_KINDS.join(', '), k);
      const r = await writeOodImages({ out: o.out, perKind: o.perKind, seed: o.seed, kinds: kinds as typeof GENERATED_OOD_KINDS[number][] | undefined, from: o.from });
      if (o.json) process.stdout.write(JSON.stringify(r) + '\n');
      else process.stdout.write(`${Object.entries(r.counts).map(([k, n]) => `${k} ${n}`).join(', ')} images in ${r.out}\n`);
    });
}
