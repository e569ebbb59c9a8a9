/**
 * `covidnet preprocess FILE... --out DIR`: the 8-bit gray image after crop and INTER_AREA resize,
 * before scaling and standardisation (comparable with OpenCV), one PNG per input.
 */
import type { Command } from 'commander';
import { parseFraction, parseIntOption, progress } from './data.js';

interface PreCliOpts { out: string; size: number; crop: number; json?: boolean }

export function register(program: Command): void {
  program
    .command('preprocess')
    .description('write each image as the network sees it before scaling: gray, cropped, resized with INTER_AREA (8-bit PNG)')
    .argument('<files...>', 'PNG, JPEG or DICOM files')
    .requiredOption('--out <dir>', 'output folder: DIR/<input name without extension>.png')
    .option('--size <px>', 'output side in pixels', parseIntOption('--size', 8, 4096), 224)
    .option('--crop <fraction>', 'fraction of width and height removed from each side first', parseFraction('--crop', 0.5), 0)
    .option('--json', 'machine-readable output')
    .action(async (files: string[], o: PreCliOpts) => {
      const path = await import('node:path');
      const sharp = (await import('sharp')).default;
      const { validatePreprocessParams } = await import('../../data/preprocess.js');
      const { preprocessFile } = await import('../../data/preprocess-file.js');
      const { writeFileAtomic } = await import('../../util/atomic.js');
      const { isCovidNetError } = await import('../../errors.js');
      const params = validatePreprocessParams({ size: o.size, crop: o.crop });
      const bar = await progress('preprocess', !!o.json || files.length < 20);
      const used = new Set<string>();
      const written: { input: string; output: string; width: number; height: number }[] = [];
      const skipped: { input: string; code: string; reason: string }[] = [];
      let done = 0;
      for (const f of files) {
        try {
          const r = await preprocessFile(f, params);
          // two inputs with one stem (a.png, a.jpg) must not overwrite each other
          const stem = path.parse(f).name;
          let name = `${stem}.png`;
          for (let k = 2; used.has(name); k++) name = `${stem}-${k}.png`;
          used.add(name);
          const out = path.join(o.out, name);
          const png = await sharp(Buffer.from(r.pixels.buffer, r.pixels.byteOffset, r.pixels.byteLength), { raw: { width: params.size, height: params.size, channels: 1 } }).toColourspace('b-w').png().toBuffer();
          await writeFileAtomic(out, png, { sync: false });
          written.push({ input: f, output: out, width: r.width, height: r.height });
        } catch (e) {
          // our refusals (unreadable, unknown format, …) skip the file; anything else is a bug
          if (!isCovidNetError(e)) throw e;
          skipped.push({ input: f, code: e.code, reason: e.reason });
          if (!o.json) process.stderr.write(`covidnet: skipped ${f}: ${e.reason} [${e.code}]\n`);
        }
        bar.update(++done, files.length);
      }
      bar.stop();
      if (o.json) process.stdout.write(JSON.stringify({ size: params.size, crop: params.crop, written, skipped }, null, 1) + '\n');
      else process.stdout.write(`wrote ${written.length} image${written.length === 1 ? '' : 's'} (${params.size}x${params.size}, crop ${params.crop}) to ${o.out}${skipped.length ? `; skipped ${skipped.length} unreadable` : ''}\n`);
      if (skipped.length) process.exitCode = 1;
    });
}
