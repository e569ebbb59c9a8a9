/**
 * The demo (what `make demo` runs): the whole study offline on built-in phantom data. Writes the
 * phantom data set, trains the single and the siamese net at the CPU configuration, evaluates both
 * on the held-out phantoms and refreshes their reports. `covidnet demo` prints the result.
 *
 * Budget: under 15 minutes on 2 cores with the native backend. Without it, the pure-JS backend is
 * ~50× slower, so the demo shrinks the network and the epochs and says so.
 */
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import { initBackend, type BackendChoice } from '../backend/index.js';
import { writeSynthDataset } from '../data/index.js';
import { parseRunConfig } from '../config.js';
import type { ModelKind } from '../types.js';
import { train, type TrainEvent } from '../train/train.js';
import { evaluateRun, type EvalResult } from '../evaluate/index.js';
import { refreshReports } from '../report/refresh.js';

/**
 * Demo plans: the CPU config with the fast backend, a reduced one without it. The demo's runs are
 * far shorter than the study's, so the single net uses a larger learning rate than the study's.
 * The siamese net uses the default recipe (contrastive: a balanced epoch of images an epoch, all
 * pairs inside a batch) with its tested settings, batch 16 and lr 1e-4 (docs/siamese.md).
 */
export const DEMO_PLANS = {
  // Measured on the quiet 2-core machine (docs/training.md): single 30 epochs at lr 3e-4 reaches
  // ≈0.86 on the held-out phantoms where 8 epochs at 1e-3 never learned pneumonia; the siamese
  // encoder starts from the single run (`initFrom`, docs/siamese.md), which took it from ≈0.59
  // (contrastive from scratch, 15 epochs) to ≈0.88 in 8 epochs.
  fast: { size: 112, width: 32, fc: 256, perClass: 180, single: { epochs: 30, batch: 16, lr: 3e-4 }, siamese: { epochs: 8, batch: 16, lr: 1e-4 }, siameseFromSingle: true },
  slow: { size: 32, width: 8, fc: 32, perClass: 40, single: { epochs: 4, batch: 8, lr: 1e-3 }, siamese: { epochs: 3, batch: 16, lr: 1e-4 }, siameseFromSingle: true },
  /** `--quick`: a smoke test of the whole pipeline in seconds (numbers meaningless). */
  quick: { size: 32, width: 4, fc: 8, perClass: 9, single: { epochs: 1, batch: 8, lr: 1e-3 }, siamese: { epochs: 1, batch: 8, lr: 1e-3 }, siameseFromSingle: false },
} as const;

export type DemoPlan = (typeof DEMO_PLANS)[keyof typeof DEMO_PLANS];

export interface DemoOptions {
  /** Demo folder: data/, runs/ and report/ go inside. */
  out: string;
  backend?: string | undefined;
  threads?: number | undefined;
  seed?: number | undefined;
  /** Class-correlated border marks in the phantoms (the study's artifacts); default true. */
  shortcuts?: boolean | undefined;
  quick?: boolean | undefined;
  /** One line of narration (what is being done, and why a reduced plan). */
  onLog?: (line: string) => void;
  /** A training is about to start: its progress handler, stopped when it ends. */
  onTraining?: (model: ModelKind) => Promise<{ onEvent: (e: TrainEvent) => void; stop: () => void }>;
}

export interface DemoResult {
  backend: BackendChoice;
  plan: DemoPlan;
  minutes: number;
  dataDir: string;
  runs: Record<ModelKind, string>;
  single: EvalResult;
  siamese: EvalResult;
  report: Awaited<ReturnType<typeof refreshReports>>;
}

export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const log = opts.onLog ?? (() => {});
  const t0 = performance.now();
  const seed = opts.seed ?? 1;
  const backend = await initBackend({ backend: opts.backend, purpose: 'train', threads: opts.threads });
  log(`backend: ${backend.reason}`);
  const plan: DemoPlan = opts.quick ? DEMO_PLANS.quick : backend.fast ? DEMO_PLANS.fast : DEMO_PLANS.slow;
  if (!backend.fast && !opts.quick) {
    log(
      `note: no fast native backend, so the demo runs a reduced configuration (size ${plan.size}, width ${plan.width}, fc ${plan.fc}, ` +
        `${plan.single.epochs}/${plan.siamese.epochs} epochs) instead of the CPU config (112/32/256). Build the native backend ` +
        '(`make native`, needs libdnnl-dev) for the full demo.',
    );
  }
  const dataDir = join(opts.out, 'data');
  const shortcuts = opts.shortcuts !== false;
  log(`writing phantom data set (${plan.perClass} images per class${shortcuts ? ", with class-correlated border marks like the study's artifacts" : ''}) to ${dataDir}`);
  await rm(dataDir, { recursive: true, force: true });
  await writeSynthDataset({ out: dataDir, perClass: plan.perClass, imageSize: 2 * plan.size, seed, shortcuts });
  const runs: Record<ModelKind, string> = { single: join(opts.out, 'runs', 'single'), siamese: join(opts.out, 'runs', 'siamese') };
  const results: EvalResult[] = [];
  for (const model of ['single', 'siamese'] as const) {
    await rm(runs[model], { recursive: true, force: true });
    const config = parseRunConfig({
      model,
      data: dataDir,
      out: runs[model],
      size: plan.size,
      width: plan.width,
      fc: plan.fc,
      epochs: plan[model].epochs,
      batch: plan[model].batch,
      lr: plan[model].lr,
      ...(model === 'siamese' && plan.siameseFromSingle ? { initFrom: runs.single } : {}),
      seed,
      ...(opts.backend ? { backend: opts.backend } : {}),
      ...(opts.threads ? { threads: opts.threads } : {}),
    });
    const per = model === 'siamese' ? (config.recipe === 'study' ? `, ${config.pairs} pairs each` : `, recipe ${config.recipe}`) + (config.initFrom ? `, encoder from ${config.initFrom}` : '') : '';
    log(`\ntraining the ${model} net (${config.epochs} epochs, batch ${config.batch}, lr ${config.lr}${per}) → ${runs[model]}`);
    const progress = await opts.onTraining?.(model);
    try {
      await train(config, progress ? { onEvent: progress.onEvent } : {});
    } finally {
      progress?.stop();
    }
    results.push(await evaluateRun({ run: runs[model], data: dataDir, split: 'test', backend: opts.backend, threads: opts.threads }));
  }
  const [single, siamese] = results as [EvalResult, EvalResult];
  const minutes = (performance.now() - t0) / 60000;
  // reports of both runs and their comparison page; never fails the demo
  const report = await refreshReports([runs.single, runs.siamese], join(opts.out, 'report'), { backend: opts.backend, threads: opts.threads });
  return { backend, plan, minutes, dataDir, runs, single, siamese, report };
}
