/** `covidnet synth`: write the built-in phantom data set (PNG + labels.csv with a split column). */
import type { Command } from 'commander';
import { CLASSES } from '../../types.js';
import { parseFraction, parseIntOption, progress } from './data.js';

interface SynthCliOpts { out: string; perClass: number; imageSize: number; seed: number; shortcuts?: boolean; testFraction: number; valFraction: number; json?: boolean }

export function register(program: Command): void {
  program
    .command('synth')
    .description('write a synthetic chest-X-ray-like phantom data set (normal / pneumonia / COVID-19) as PNG + labels.csv')
    .requiredOption('--out <dir>', 'output folder')
    .option('--per-class <n>', 'images per class', parseIntOption('--per-class', 3, 100000), 180)
    .option('--image-size <px>', 'image side in pixels', parseIntOption('--image-size', 32, 2048), 224)
    .option('--seed <s>', 'random seed', parseIntOption('--seed', 0, 2 ** 31 - 1), 1)
    .option('--shortcuts', 'add class-correlated border marks (a shortcut a network can learn, as in the study)')
    .option('--test-fraction <f>', "fraction of each class's patients in test", parseFraction('--test-fraction'), 0.2)
    .option('--val-fraction <f>', "fraction of each class's other patients in val", parseFraction('--val-fraction'), 0.2)
    .option('--json', 'machine-readable output')
    .action(async (o: SynthCliOpts) => {
      const { writeSynthDataset } = await import('../../data/synth.js');
      const bar = await progress('synth', !!o.json);
      const r = await writeSynthDataset({
        out: o.out, perClass: o.perClass, imageSize: o.imageSize, seed: o.seed, shortcuts: !!o.shortcuts,
        testFraction: o.testFraction, valFraction: o.valFraction, onProgress: bar.update,
      });
      bar.stop();
      if (o.json) {
        process.stdout.write(JSON.stringify(r, null, 1) + '\n');
        return;
      }
      const lines = [`wrote ${o.perClass * CLASSES.length} phantom images (${r.patients} patients, ${o.imageSize}x${o.imageSize}${o.shortcuts ? ', with border marks' : ''}) to ${r.out}`, `manifest: ${r.manifest}`];
      for (const s of ['train', 'val', 'test'] as const) lines.push(`  ${s.padEnd(6)} ${CLASSES.map((c) => `${c} ${r.counts[s][c]}`).join(', ')}`);
      lines.push('Synthetic phantoms for software testing: not chest X-rays, nothing learned on them says anything about patients.');
      process.stdout.write(lines.join('\n') + '\n');
    });
}
