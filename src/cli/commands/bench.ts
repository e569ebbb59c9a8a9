/**
 * `covidnet bench`: training and inference speed of COVID-Net on the active backend, measured as
 * the PyTorch mirror of the network measures it (docs/performance.md). A thin layer over runBench().
 */
import type { Command } from 'commander';
import { backendOption, runOption, threadsOption } from '../options.js';
import { optionError } from '../../errors.js';
import { numberOption } from '../../config.js';
import type { BenchOptions } from '../../workflows/bench.js';

/** The library's bench options as commander hands them over (model not yet checked). */
type BenchCliOptions = Omit<BenchOptions, 'model' | 'anchor'> & { model: string; anchor?: string; json?: boolean };

export function register(program: Command): void {
  program
    .command('bench')
    .description('time forward and training steps of COVID-Net (random inputs; medians after warm-up, per image)')
    .option('--model <kind>', 'single or siamese', 'single')
    .addOption(runOption('size', { default: 224 }))
    .addOption(runOption('width', { default: 128 }))
    .addOption(runOption('fc', { default: 1024 }))
    .addOption(runOption('batch', { help: 'images (single) or pairs (siamese) per step', default: 8 }))
    .option('--steps <n>', 'measured steps', numberOption('--steps', 'int'), 5)
    .option('--warmup <n>', 'unmeasured steps first', numberOption('--warmup', 'int'), 2)
    .addOption(threadsOption('threads for native kernels (default: COVIDNET_THREADS or all cores)'))
    .addOption(backendOption())
    .option('--anchor <name>', 'also time the PyTorch mirror exported to ONNX in ONNX Runtime, in this process: onnxruntime (needs onnxruntime-node, see docs/performance.md)')
    .option('--json', 'print one JSON object')
    .action(async (o: BenchCliOptions) => {
      const { runBench } = await import('../../workflows/bench.js');
      const model = o.model === 'siamese' ? 'siamese' : o.model === 'single' ? 'single' : undefined;
      if (!model) throw optionError('--model', 'single | siamese', o.model);
      if (o.anchor !== undefined && o.anchor !== 'onnxruntime') throw optionError('--anchor', 'onnxruntime', o.anchor);
      const showBar = !o.json && process.stderr.isTTY;
      let bar: import('cli-progress').SingleBar | undefined;
      if (showBar) {
        const { SingleBar, Presets } = await import('cli-progress');
        bar = new SingleBar({ format: 'bench {bar} {value}/{total} steps | {rate} s/step | ETA {eta_formatted}', stream: process.stderr }, Presets.shades_classic);
      }
      const started = performance.now();
      const { result, reason } = await runBench({
        model, size: o.size, width: o.width, fc: o.fc, batch: o.batch, steps: o.steps, warmup: o.warmup,
        threads: o.threads, backend: o.backend, anchor: o.anchor === 'onnxruntime' ? 'onnxruntime' : undefined,
        onStep: (done, total) => {
          if (!bar) return;
          if (done === 1) bar.start(total, 0, { rate: '?' });
          bar.update(done, { rate: ((performance.now() - started) / 1000 / done).toFixed(1) });
        },
      });
      bar?.stop();
      if (o.json) {
        process.stdout.write(`${JSON.stringify(result)}\n`);
        return;
      }
      const rows: [string, string][] = [
        ['backend', result.backend],
        ['model', `${result.model} ${result.size}px, width ${result.width}, fc ${result.fc}`],
        ['parameters', result.params.toLocaleString('en')],
        ['batch', `${result.batch} ${result.model === 'siamese' ? 'pairs' : 'images'}`],
        ['threads', String(result.threads)],
        ['forward', `${result.forward_ms_per_image.toFixed(2)} ms/image (${result.forward_path}; TF.js path ${result.forward_tfjs_ms_per_image.toFixed(2)})`],
        ...(result.onnxruntime_forward_ms_per_image === undefined ? [] : [['ONNX Runtime forward', `${result.onnxruntime_forward_ms_per_image.toFixed(2)} ms/image against covidnet's ${result.forward_interleaved_ms_per_image?.toFixed(2)} in alternation (covidnet / ORT ${result.forward_vs_onnxruntime})`] as [string, string]]),
        ['training step', `${result.train_ms_per_image.toFixed(2)} ms/image (forward + backward + Adam)`],
        ['peak RSS', `${result.peak_rss_mb.toFixed(0)} MB`],
      ];
      const w = Math.max(...rows.map(([k]) => k.length));
      process.stdout.write(`${reason}\n${rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n')}\n` +
        `medians of ${o.steps} steps after ${o.warmup} warm-up steps, random inputs\n`);
    });
}
