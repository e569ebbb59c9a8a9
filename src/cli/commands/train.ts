/**
 * `covidnet train`: a thin layer over `train()` (src/train). Progress bar per epoch on a terminal,
 * one line per epoch when piped, one JSON object per epoch with --json.
 */
import type { Command } from 'commander';
import { backendOption, cacheDirOption, threadsOption } from '../options.js';
import { FLAG_NAMES, numberOption, type RunConfig } from '../../config.js';
import type { TrainEvent } from '../../train/train.js';
import type { EpochRecord } from '../../run/files.js';

export interface TrainCliOptions {
  model?: string;
  data?: string;
  out?: string;
  size?: number;
  width?: number;
  fc?: number;
  epochs?: number;
  batch?: number;
  lr?: number;
  pairs?: number;
  valFraction?: number;
  testFraction?: number;
  crop?: number;
  seed?: number;
  backend?: string;
  threads?: number;
  oneShotTrials?: number;
  selectBy?: string;
  recipe?: string;
  initFrom?: string;
  cacheDir?: string;
  resume?: boolean;
  json?: boolean;
}

/** The config keys a CLI option maps to (everything but resume/json). */
const CONFIG_KEYS = Object.keys(FLAG_NAMES);

/** Options shared by train and search. */
export function addModelOptions(cmd: Command): Command {
  return cmd
    .option('--size <n>', 'input side in pixels (study 224; CPU config 112)', numberOption('--size', 'int'))
    .option('--width <n>', 'first-stage PEPX width (study 128; CPU config 32)', numberOption('--width', 'int'))
    .option('--fc <n>', 'units of the first dense layer (study 1024; CPU config 256)', numberOption('--fc', 'int'))
    .option('--epochs <n>', 'epochs (default: single 100, siamese 50)', numberOption('--epochs', 'int'))
    .option('--pairs <n>', 'siamese pairs per epoch (default 12000)', numberOption('--pairs', 'int'))
    .option('--val-fraction <f>', 'validation fraction when the source has no split column (default 0.2)', numberOption('--val-fraction', 'float'))
    .option('--test-fraction <f>', 'test fraction (by patient) when the source has no split column (default 0.2)', numberOption('--test-fraction', 'float'))
    .option('--crop <f>', 'fraction cut from each side before resizing (default 0)', numberOption('--crop', 'float'))
    .option('--seed <n>', 'seed of initialisation, split and samplers (default 1)', numberOption('--seed', 'int'))
    .option('--one-shot-trials <n>', 'siamese 3-way one-shot validation trials (default 129)', numberOption('--one-shot-trials', 'int'))
    .option('--select-by <metric>', 'siamese: validation metric that picks the checkpoint: template (default) or one-shot (the study\'s)')
    .option('--recipe <name>', 'siamese training recipe: contrastive (default) or study (the published one)')
    .option('--init-from <run>', 'siamese: start the encoder from this single-net run\'s trained weights')
    .addOption(backendOption())
    .addOption(threadsOption('threads for native kernels and image decoding (default: COVIDNET_THREADS or all cores)'))
    .addOption(cacheDirOption())
    .option('--json', 'one JSON object per epoch on stdout instead of progress bars');
}

export function toConfigInput(o: TrainCliOptions): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const k of CONFIG_KEYS) {
    const v = (o as Record<string, unknown>)[k];
    if (v !== undefined) raw[k] = v;
  }
  return raw;
}

/**
 * Renders training events: a cli-progress bar per epoch on a terminal, plain lines otherwise,
 * JSON lines with --json. Returns the event handler and a `stop()` to close an open bar.
 */
export async function trainReporter(json: boolean, prefix = ''): Promise<{ onEvent: (e: TrainEvent) => void; stop: () => void }> {
  const tty = !json && process.stderr.isTTY === true;
  const { default: cliProgress } = tty ? await import('cli-progress') : { default: undefined };
  let bar: { start: (t: number, v: number, p: object) => void; update: (v: number, p: object) => void; stop: () => void } | undefined;
  let prepBar: typeof bar;
  const stop = () => {
    bar?.stop();
    prepBar?.stop();
    bar = prepBar = undefined;
  };
  const onEvent = (e: TrainEvent): void => {
    switch (e.type) {
      case 'prepare':
        if (cliProgress) {
          if (!prepBar) {
            prepBar = new cliProgress.SingleBar({ format: `${prefix}preparing ${e.split} [{bar}] {value}/{total} images | {rate}/s | ETA {eta_formatted}`, etaBuffer: 50, clearOnComplete: true, stream: process.stderr }, cliProgress.Presets.shades_classic) as typeof bar;
            prepBar!.start(e.total, e.done, { rate: '0' });
          }
          prepBar!.update(e.done, { rate: '…' });
          if (e.done >= e.total) {
            prepBar!.stop();
            prepBar = undefined;
          }
        }
        break;
      case 'ready':
        if (!json) {
          process.stderr.write(`${prefix}backend: ${e.backend.reason}\n`);
          process.stderr.write(`${prefix}images: train ${e.counts.train}, val ${e.counts.val}, test ${e.counts.test}${e.failed ? `, ${e.failed} unreadable skipped` : ''}\n`);
          if (e.resumedFrom > 0) process.stderr.write(`${prefix}resuming after epoch ${e.resumedFrom} of ${e.epochs}\n`);
        } else {
          process.stdout.write(JSON.stringify({ event: 'ready', backend: e.backend.name, fast: e.backend.fast, counts: e.counts, failed: e.failed, resumed_from: e.resumedFrom, epochs: e.epochs }) + '\n');
        }
        break;
      case 'epoch-start':
        if (cliProgress) {
          const started = Date.now();
          bar = new cliProgress.SingleBar(
            {
              format: `${prefix}epoch {epoch}/{epochs} [{bar}] {value}/{total} steps | {rate} samples/s | ETA {eta_formatted} | loss {loss}`,
              etaBuffer: 20,
              stream: process.stderr,
              hideCursor: true,
            },
            cliProgress.Presets.shades_classic,
          ) as typeof bar;
          (bar as unknown as { started: number }).started = started;
          bar!.start(e.steps, 0, { epoch: e.epoch, epochs: e.epochs, rate: '…', loss: '…' });
        }
        break;
      case 'step':
        if (bar) {
          const secs = (Date.now() - (bar as unknown as { started: number }).started) / 1000;
          bar.update(e.step, { rate: (e.samples / Math.max(secs, 1e-3)).toFixed(1), loss: e.loss.toFixed(4) });
        }
        break;
      case 'validating':
        break;
      case 'epoch':
        stop();
        if (json) process.stdout.write(JSON.stringify(e.record) + '\n');
        else process.stderr.write(`${prefix}${epochLine(e.record)}\n`);
        break;
      case 'templates':
        if (!json) process.stderr.write(`${prefix}class templates from ${e.counts.join(' / ')} training images\n`);
        break;
    }
  };
  return { onEvent, stop };
}

export function epochLine(r: EpochRecord): string {
  const metric = r.val_metric === 'accuracy' ? 'val acc' : r.val_metric === 'template_accuracy' ? 'val template acc' : 'val one-shot acc';
  // val loss appears when the record has it (histories written before it was recorded lack it)
  const valLoss = r.val_loss !== undefined ? `, val loss ${r.val_loss.toFixed(4)}` : '';
  return `epoch ${r.epoch}: loss ${r.loss.toFixed(4)}${valLoss}, ${metric} ${r.val_accuracy.toFixed(3)}${r.best ? ' (best)' : ''}, ${r.samples} samples in ${r.seconds.toFixed(1)} s (${r.samples_per_second.toFixed(1)}/s)`;
}

export function register(program: Command): void {
  const cmd = program
    .command('train')
    .description('train the single or siamese COVID-Net into a run folder (best checkpoint, resumable)')
    .option('--model <kind>', 'single or siamese')
    .option('--data <src>', 'data source: folder per class, CSV manifest or COVIDx split file')
    .option('--out <run>', 'run folder')
    .option('--batch <n>', 'images (single) or pairs (siamese) per step (default 16 / 32)', numberOption('--batch', 'int'))
    .option('--lr <l>', 'Adam learning rate (default 1e-4)', numberOption('--lr', 'float'))
    .option('--resume', 'continue a killed run from RUN/last (the run\'s own settings are used)');
  addModelOptions(cmd).action(async (o: TrainCliOptions) => {
    const { parseRunConfig } = await import('../../config.js');
    const { optionError } = await import('../../errors.js');
    const { RESEARCH_NOTICE } = await import('../../types.js');
    if (!o.out) throw optionError('--out', 'a run folder', o.out);
    const raw = toConfigInput(o);
    if (o.resume) {
      const { readRunConfig } = await import('../../run/files.js');
      const saved = await readRunConfig(o.out).catch(() => undefined);
      if (saved) {
        raw['model'] ??= saved.model;
        raw['data'] ??= saved.data;
      }
    }
    if (raw['model'] === undefined) throw optionError('--model', 'single or siamese', undefined);
    if (raw['data'] === undefined) throw optionError('--data', 'a data source path', undefined);
    const config = parseRunConfig(raw);
    const { train } = await import('../../train/train.js');
    const rep = await trainReporter(o.json === true);
    let result;
    try {
      result = await train(config, { onEvent: rep.onEvent, resume: o.resume === true }, raw as Partial<RunConfig>);
    } finally {
      rep.stop();
    }
    if (o.json) {
      process.stdout.write(JSON.stringify({ event: 'done', run: result.run, complete: result.complete, epochs: result.epochsDone, best_epoch: result.bestEpoch, best_val_accuracy: result.bestValAccuracy }) + '\n');
    } else {
      process.stdout.write(
        `${result.complete ? 'trained' : 'stopped (resume with --resume)'}: ${result.config.model}, ${result.epochsDone} epochs; best validation ${result.config.model === 'single' ? 'accuracy' : 'one-shot accuracy'} ${result.bestValAccuracy.toFixed(3)} at epoch ${result.bestEpoch}\n` +
          `run folder: ${result.run} (model/ = best checkpoint, last/ = resume state, history.jsonl)\n${RESEARCH_NOTICE}\n`,
      );
    }
    // refresh the run's report (never fails the command)
    const { refreshRunReport, refreshLine } = await import('../../report/refresh.js');
    const report = await refreshRunReport(result.run, { backend: config.backend, threads: config.threads });
    if (!o.json) process.stdout.write(refreshLine(report) + '\n');
  });
}
