/**
 * `covidnet diagnose`: train siamese recipes for a few steps and record why they do or do not
 * learn (activations, dead units, logit spread, gradient norms; docs/siamese.md), as JSON and PNG figures.
 */
import type { Command } from 'commander';
import { backendOption, runOption, threadsOption } from '../options.js';
import { numberOption, parseRunConfig } from '../../config.js';
import type { ProbeStats } from '../../workflows/diagnose.js';

interface DiagnoseCli {
  data: string;
  out: string;
  recipe: string;
  size: number;
  width: number;
  fc: number;
  lr: number;
  batch?: number;
  steps: number;
  every: number;
  probePairs: number;
  seed: number;
  backend?: string;
  threads?: number;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('diagnose')
    .description('train siamese recipes for a few steps and plot activations, dead units, logit spread and gradient norms')
    .requiredOption('--data <src>', 'data source (split by patient as `train` does)')
    .requiredOption('--out <dir>', 'folder for diagnose-<recipe>.json and the PNG figures (of every recipe diagnosed there)')
    .option('--recipe <names>', 'comma-separated siamese recipes', 'study,contrastive')
    .addOption(runOption('size', { default: 112 }))
    .addOption(runOption('width', { default: 32 }))
    .addOption(runOption('fc', { default: 256 }))
    .addOption(runOption('lr', { default: 1e-4 }))
    .addOption(runOption('batch', { help: 'pairs (pair recipes) or images (batch recipes) per step (default 16 / 32)' }))
    .option('--steps <n>', 'training steps per recipe', numberOption('--steps', 'int'), 40)
    .option('--every <n>', 'probe every n steps', numberOption('--every', 'int'), 5)
    .option('--probe-pairs <n>', 'fixed probe pairs (half same, half different)', numberOption('--probe-pairs', 'int'), 16)
    .addOption(runOption('seed', { default: 1 }))
    .addOption(backendOption())
    .addOption(threadsOption())
    .option('--json', 'one JSON object per probe on stdout')
    .action(async (o: DiagnoseCli) => {
      const { mkdir, readdir, readFile, writeFile } = await import('node:fs/promises');
      const { join } = await import('node:path');
      const { initBackend, withTrainingFusion } = await import('../../backend/index.js');
      const { prepareTrainingData } = await import('../../train/data.js');
      const { getRecipe } = await import('../../train/recipes.js');
      const { diagnoseRecipe } = await import('../../workflows/diagnose.js');
      const { diagnosticFigures } = await import('../../workflows/diagnose-plots.js');
      const { writeJsonAtomic } = await import('../../run/atomic.js');
      const recipes = o.recipe.split(',').map((s) => s.trim()).filter(Boolean);
      for (const r of recipes) getRecipe(r); // fail on a bad name before any work
      const config = parseRunConfig({ model: 'siamese', data: o.data, out: o.out, size: o.size, width: o.width, fc: o.fc, seed: o.seed, ...(o.threads ? { threads: o.threads } : {}) });
      const backend = await initBackend({ backend: o.backend, purpose: 'train', threads: o.threads });
      if (!o.json) process.stderr.write(`backend: ${backend.reason}\n`);
      const data = await prepareTrainingData(config);
      await mkdir(o.out, { recursive: true });
      const runs: Record<string, ReturnType<typeof diagnoseRecipe>> = {};
      for (const name of recipes) {
        const batch = o.batch ?? (getRecipe(name).kind === 'batch' ? 32 : 16);
        const t0 = performance.now();
        runs[name] = await withTrainingFusion(() => diagnoseRecipe(data.train, data.stats, {
          recipe: name,
          modelConfig: { size: o.size, width: o.width, fc: o.fc, seed: o.seed },
          lr: o.lr,
          batch,
          steps: o.steps,
          every: o.every,
          probePairs: o.probePairs,
          seed: o.seed,
          onProbe: (p) => {
            if (o.json) process.stdout.write(JSON.stringify({ recipe: name, ...p }) + '\n');
            else
              process.stderr.write(
                `[${name}] step ${p.step}: loss ${p.loss.toFixed(4)} | logit same ${p.logitSame.mean.toFixed(3)}±${p.logitSame.std.toFixed(3)} ` +
                  `diff ${p.logitDifferent.mean.toFixed(3)}±${p.logitDifferent.std.toFixed(3)} | dead ${(100 * p.embedding.deadUnits).toFixed(0)}% | ` +
                  `‖g_emb‖ ${p.grad.embedding.toExponential(2)} ‖g_enc‖ ${p.grad.encoderWeights.toExponential(2)} | ${((performance.now() - t0) / 1000).toFixed(0)} s\n`,
              );
          },
        }));
        await writeJsonAtomic(join(o.out, `diagnose-${name}.json`), { recipe: name, data: config.data, size: o.size, width: o.width, fc: o.fc, lr: o.lr, batch, steps: o.steps, every: o.every, backend: backend.name, probes: runs[name] });
      }
      // figures from every recipe diagnosed into this folder (earlier calls too), so recipes can be run one at a time
      const all: Record<string, ProbeStats[]> = {};
      for (const f of (await readdir(o.out)).filter((f) => /^diagnose-.+\.json$/.test(f)).sort()) {
        const j = JSON.parse(await readFile(join(o.out, f), 'utf8')) as { recipe: string; probes: ProbeStats[] };
        all[j.recipe] = j.probes;
      }
      const figs = await diagnosticFigures(all);
      for (const [name, png] of Object.entries(figs)) await writeFile(join(o.out, name), png);
      if (!o.json) process.stderr.write(`wrote diagnose-<recipe>.json and ${Object.keys(figs).join(', ')} to ${o.out}\n`);
    });
}
