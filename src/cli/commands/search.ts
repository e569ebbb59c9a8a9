/** `covidnet search`: the study's learning-rate × batch grid with short runs; a table, best cell marked. */
import type { Command } from 'commander';
import { optionError } from '../../errors.js';
import { addRunOptions } from '../options.js';
import { addModelOptions, toConfigInput, trainReporter, type TrainCliOptions } from './train.js';

function numberList(flag: string, int: boolean) {
  return (value: string): number[] => {
    const xs = value.split(',').map((s) => s.trim());
    const ns = xs.map(Number);
    if (xs.length === 0 || ns.some((n, i) => xs[i] === '' || !Number.isFinite(n) || n <= 0 || (int && !Number.isInteger(n)))) {
      throw optionError(flag, `a comma-separated list of positive ${int ? 'integers' : 'numbers'}`, value);
    }
    return ns;
  };
}

export function register(program: Command): void {
  const cmd = program
    .command('search')
    .description('grid search over learning rate × batch size with short runs (study: {1e-3,1e-4,1e-5} × {8,16,32})');
  addRunOptions(cmd, ['model', 'data', 'out'], { out: { help: 'search folder (one run folder per cell)' } })
    .option('--lrs <list>', 'learning rates (default 1e-3,1e-4,1e-5)', numberList('--lrs', false))
    .option('--batches <list>', 'batch sizes (default 8,16,32)', numberList('--batches', true));
  addModelOptions(cmd).action(async (o: TrainCliOptions & { lrs?: number[]; batches?: number[] }) => {
    const { parseRunConfig } = await import('../../config.js');
    const { RESEARCH_NOTICE } = await import('../../types.js');
    if (!o.out) throw optionError('--out', 'a search folder', o.out);
    if (!o.model) throw optionError('--model', 'single or siamese', o.model);
    if (!o.data) throw optionError('--data', 'a data source path', o.data);
    // short runs by default: 5 epochs, and 5000 pairs per siamese epoch as in the study's search
    const raw = { epochs: 5, ...(o.model === 'siamese' ? { pairs: 5000 } : {}), ...toConfigInput(o) };
    const base = parseRunConfig(raw);
    const { searchGrid, cellName } = await import('../../train/search.js');
    const { table } = await import('../../evaluate/format.js');
    const rep = await trainReporter(o.json === true, '');
    let result;
    try {
      result = await searchGrid({
        base,
        ...(o.lrs ? { lrs: o.lrs } : {}),
        ...(o.batches ? { batches: o.batches } : {}),
        onPrepare: (p) => rep.onEvent({ type: 'prepare', ...p }),
        onEvent: rep.onEvent,
        onCellStart: (c) => {
          if (!o.json) process.stderr.write(`cell ${c.index}/${c.total}: lr ${c.lr}, batch ${c.batch} → ${c.run}\n`);
        },
        onCell: (c) => {
          if (o.json) process.stdout.write(JSON.stringify({ event: 'cell', ...c }) + '\n');
        },
      });
    } finally {
      rep.stop();
    }
    if (o.json) {
      process.stdout.write(JSON.stringify({ event: 'done', best: result.best, out: result.out }) + '\n');
      return;
    }
    const metric = base.model === 'single' ? 'best val acc' : base.selectBy === 'one-shot' ? 'best val one-shot acc' : 'best val template acc';
    const rows = [['', 'lr', 'batch', metric, 'at epoch', 'seconds', 'run']];
    for (const c of result.cells) {
      rows.push([c === result.best ? '*' : '', String(c.lr), String(c.batch), c.bestValAccuracy.toFixed(3), String(c.bestEpoch), c.seconds.toFixed(0), cellName(c.lr, c.batch)]);
    }
    process.stdout.write(`grid search, ${base.model}, ${result.epochs} epochs per cell${base.model === 'siamese' ? `, ${base.pairs} pairs per epoch` : ''}\n`);
    process.stdout.write(table(rows) + '\n');
    process.stdout.write(`* best: lr ${result.best.lr}, batch ${result.best.batch} (${result.best.run}); results in ${result.out}/search.json\n${RESEARCH_NOTICE}\n`);
  });
}
