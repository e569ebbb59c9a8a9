/**
 * `covidnet templates add|list|remove --run RUN`: the classes of a siamese run, edited after
 * training (a class from a few example images, no retraining). Thin layer over src/run/templates.ts.
 */
import type { Command } from 'commander';
import { backendOption, inferenceBatchOption, threadsOption } from '../options.js';
import { numberOption } from '../../config.js';

interface AddCliOptions {
  run?: string;
  class?: string;
  data?: string;
  label?: string;
  shots?: number;
  seed?: number;
  replace?: boolean;
  batch?: number;
  backend?: string;
  threads?: number;
  json?: boolean;
}

export function register(program: Command): void {
  const cmd = program.command('templates').description('the classes of a siamese run: add one from a few example images (no retraining), list, remove');
  cmd
    .command('add')
    .description('add a class to a siamese run: its template is the mean embedding of the example images')
    .argument('[files...]', 'example images of the class (PNG, JPEG, DICOM)')
    .option('--run <run>', 'siamese run folder')
    .option('--class <name>', 'name of the class to add')
    .option('--data <src>', "take the examples from a data source instead (never the run's validation or test images)")
    .option('--label <label>', 'with --data: the label of the examples (default: --class)')
    .option('--shots <k>', 'with --data: use k of those images, drawn with --seed (default: all)', numberOption('--shots', 'int'))
    .option('--seed <n>', 'seed of the --shots draw', numberOption('--seed', 'int'), 1)
    .option('--replace', 're-make the template of a class added before')
    .addOption(inferenceBatchOption())
    .addOption(backendOption())
    .addOption(threadsOption())
    .option('--json', 'print the result as JSON')
    .action(async (files: string[], o: AddCliOptions) => {
      const { optionError } = await import('../../errors.js');
      if (!o.run) throw optionError('--run', 'a run folder', o.run);
      if (!o.class) throw optionError('--class', 'the name of the class to add', o.class);
      if (o.data === undefined && (o.label !== undefined || o.shots !== undefined)) throw optionError(o.label !== undefined ? '--label' : '--shots', 'to be used with --data', o.label ?? o.shots);
      const { addClass } = await import('../../run/templates.js');
      const r = await addClass(o.run, o.class, { files, data: o.data, label: o.label, shots: o.shots, seed: o.seed, replace: o.replace, batch: o.batch, backend: o.backend, threads: o.threads });
      if (o.json) return void process.stdout.write(JSON.stringify(r) + '\n');
      for (const s of r.skipped) process.stderr.write(`skipped ${s.file}: [${s.code}] ${s.reason}\n`);
      process.stdout.write(`${r.replaced ? 're-made' : 'added'} class ${r.class} from ${r.files.length} image${r.files.length === 1 ? '' : 's'}; the run now scores ${r.classes.join(', ')}\n`);
    });
  cmd
    .command('list')
    .description("list a siamese run's classes: trained, or added from examples")
    .option('--run <run>', 'siamese run folder')
    .option('--json', 'print the list as JSON')
    .action(async (o: { run?: string; json?: boolean }) => {
      const { optionError } = await import('../../errors.js');
      if (!o.run) throw optionError('--run', 'a run folder', o.run);
      const { listClasses } = await import('../../run/templates.js');
      const l = await listClasses(o.run);
      if (o.json) return void process.stdout.write(JSON.stringify(l) + '\n');
      for (const c of l) process.stdout.write(`${c.class.padEnd(16)} ${c.origin.padEnd(8)} ${c.images} image${c.images === 1 ? '' : 's'}${c.addedAt ? `, added ${c.addedAt}` : ''}\n`);
    });
  cmd
    .command('remove')
    .description('remove a class from a siamese run (a trained class comes back only by retraining)')
    .option('--run <run>', 'siamese run folder')
    .option('--class <name>', 'the class to remove')
    .option('--json', 'print the result as JSON')
    .action(async (o: { run?: string; class?: string; json?: boolean }) => {
      const { optionError } = await import('../../errors.js');
      if (!o.run) throw optionError('--run', 'a run folder', o.run);
      if (!o.class) throw optionError('--class', 'the class to remove', o.class);
      const { removeClass } = await import('../../run/templates.js');
      const r = await removeClass(o.run, o.class);
      if (o.json) return void process.stdout.write(JSON.stringify(r) + '\n');
      process.stdout.write(`removed ${r.origin} class ${r.class}; the run now scores ${r.classes.join(', ')}\n`);
    });
}
