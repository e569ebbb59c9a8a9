/**
 * `covidnet train`: a thin layer over `train()` (src/train). Progress bar per epoch on a terminal,
 * one line per epoch when piped, one JSON object per epoch with --json.
 */
import type { Command } from 'commander';
import { addRunOptions, backendOption, cacheDirOption, threadsOption, type RunCliValues } from '../options.js';
import { pickRunOptions, RUN_OPTION_KEYS, RUN_OPTIONS, type RunConfig, type RunOptionKey } from '../../config.js';
import type { TrainEvent } from '../../train/train.js';
import type { EpochRecord } from '../../run/files.js';

export type TrainCliOptions = RunCliValues & { resume?: boolean; json?: boolean };

/** Run options each command declares itself (its own help for --model/--data/--out; search has grids instead of --batch/--lr). */
const OWN_KEYS: readonly RunOptionKey[] = ['model', 'data', 'out', 'batch', 'lr', 'backend', 'threads', 'cacheDir'];
/** Every other CLI run option: a new entry in RUN_OPTIONS appears on train and search with no edit here. */
const MODEL_OPTION_KEYS: readonly RunOptionKey[] = RUN_OPTION_KEYS.filter((k) => RUN_OPTIONS[k].meta.arg !== false && !OWN_KEYS.includes(k));

/** Options shared by train and search. */
export function addModelOptions(cmd: Command): Command {
  return addRunOptions(cmd, MODEL_OPTION_KEYS)
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(cacheDirOption())
    .option('--json', 'one JSON object per epoch on stdout instead of progress bars');
}

/** The run options among a command's parsed options. */
export function toConfigInput(o: TrainCliOptions): Record<string, unknown> {
  return pickRunOptions(o);
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
          process.stderr.write(`${prefix}images: train ${e.counts.train}, val ${e.counts.val}, test ${e.counts.test}\n`);
          const s = e.skipped;
          if (s.sourceEntries + s.unreadable > 0) {
            const codes = Object.entries(s.byCode).map(([c, n]) => `${n} ${c}`).join(', ');
            process.stderr.write(`${prefix}skipped: ${s.sourceEntries} source entries and ${s.unreadable} unreadable images (${codes}; e.g. ${s.examples.join(', ')}); the full list is in ${s.listedIn}\n`);
          }
          for (const n of e.notes) process.stderr.write(`${prefix}note: ${n}\n`);
          if (e.resumedFrom > 0) process.stderr.write(`${prefix}resuming after epoch ${e.resumedFrom} of ${e.epochs}\n`);
        } else {
          process.stdout.write(JSON.stringify({ event: 'ready', backend: e.backend.name, fast: e.backend.fast, counts: e.counts, failed: e.failed, skipped: e.skipped, notes: e.notes, resumed_from: e.resumedFrom, epochs: e.epochs }) + '\n');
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

/** How the CLI names each checkpoint-selection metric. */
const METRIC_NAMES: Record<EpochRecord['val_metric'], string> = { accuracy: 'accuracy', template_accuracy: 'template accuracy', one_shot_accuracy: 'one-shot accuracy' };

export function epochLine(r: EpochRecord): string {
  const metric = `val ${METRIC_NAMES[r.val_metric].replace('accuracy', 'acc')}`;
  // val loss appears when the record has it (histories written before it was recorded lack it)
  const valLoss = r.val_loss !== undefined ? `, val loss ${r.val_loss.toFixed(4)}` : '';
  return `epoch ${r.epoch}: loss ${r.loss.toFixed(4)}${valLoss}, ${metric} ${r.val_accuracy.toFixed(3)}${r.best ? ' (best)' : ''}, ${r.samples} samples in ${r.seconds.toFixed(1)} s (${r.samples_per_second.toFixed(1)}/s)`;
}

export function register(program: Command): void {
  const cmd = program
    .command('train')
    .description('train the single or siamese COVID-Net into a run folder (best checkpoint, resumable)');
  addRunOptions(cmd, ['model', 'data', 'out', 'batch', 'lr']).option('--resume', "continue a killed run from RUN/last (the run's own settings are used)");
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
        `${result.complete ? 'trained' : 'stopped (resume with --resume)'}: ${result.config.model}, ${result.epochsDone} epochs; best validation ${METRIC_NAMES[result.selectedBy]} ${result.bestValAccuracy.toFixed(3)} at epoch ${result.bestEpoch}\n` +
          `run folder: ${result.run} (model/ = best checkpoint, last/ = resume state, history.jsonl)\n${RESEARCH_NOTICE}\n`,
      );
    }
    // refresh the run's report (never fails the command)
    const { refreshRunReport, refreshLine } = await import('../../report/refresh.js');
    const report = await refreshRunReport(result.run, { backend: config.backend, threads: config.threads });
    if (!o.json) process.stdout.write(refreshLine(report) + '\n');
  });
}
