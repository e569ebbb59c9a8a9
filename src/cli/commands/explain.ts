/**
 * `covidnet explain`: Grad-CAM heat maps for a run's predictions, on files or on a data source's
 * split (a thin layer over `explainRun` in src/explain).
 */
import { Option, type Command } from 'commander';
import { DEFAULT_HEAT_METHOD, DEFAULT_PERTURBATION_BASELINE, DEFAULT_PERTURBATION_CELLS, DEFAULT_PERTURBATION_PATCH, HEAT_METHODS, HEAT_SCORES, PERTURBATION_BASELINES } from '../../explain/methods.js';
import { backendOption, inferenceBatchOption, threadsOption } from '../options.js';
import { numberOption } from '../../config.js';

interface ExplainCliOptions {
  run?: string;
  data?: string;
  split?: string;
  limit?: number;
  out?: string;
  class?: string;
  contrast?: string;
  band?: number;
  colormap?: string;
  sheet?: number;
  batch?: number;
  allowOod?: boolean;
  method?: string;
  score?: string;
  cells?: number;
  patch?: number;
  baseline?: string;
  faithfulness?: boolean;
  deletionOrders?: number;
  backend?: string;
  threads?: number;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('explain')
    .description('heat maps (insertion, occlusion or Grad-CAM) on the original images: overlay PNGs, raw heat maps, peak, border mass and a deletion check (research use only)')
    .argument('[files...]', 'image files (PNG, JPEG, DICOM); or use --data')
    .option('--run <run>', 'run folder (single or siamese)')
    .option('--data <src>', 'data source instead of files (the run\'s own source uses its held-out split)')
    .option('--split <split>', 'with --data: train, val or test (default test)')
    .option('--limit <n>', 'with --data: at most this many images', numberOption('--limit', 'int'))
    .option('--out <dir>', 'output folder')
    .option('--class <name>', 'class to explain: normal, pneumonia or COVID-19 (default: the predicted class)')
    .option('--contrast <name>', 'siamese: explain similarity to --class minus similarity to this class\'s template')
    .addOption(new Option('--method <name>', 'heat map: insertion (put back one patch of the image with its evidence removed), occlusion (remove one patch) or gradcam').choices(HEAT_METHODS).default(DEFAULT_HEAT_METHOD))
    .addOption(new Option('--score <what>', 'explain the target\'s margin over the runner-up (or --contrast) class, or its own score (default: margin for gradcam, class for insertion and occlusion)').choices(HEAT_SCORES))
    .option('--cells <n>', `insertion/occlusion: map cells per side (default ${DEFAULT_PERTURBATION_CELLS})`, numberOption('--cells', 'int'))
    .option('--patch <cells>', `insertion/occlusion: patch side in cells (default ${DEFAULT_PERTURBATION_PATCH})`, numberOption('--patch', 'float'))
    .addOption(new Option('--baseline <what>', 'insertion/occlusion: what removed evidence becomes: the image blurred by one cell (σ = cell stride) or blank (the mean)').choices(PERTURBATION_BASELINES).default(DEFAULT_PERTURBATION_BASELINE))
    .option('--faithfulness', 'deletion check per image (default with --data): blank the hottest cells first vs random cells')
    .option('--no-faithfulness', 'skip the deletion check')
    .option('--deletion-orders <n>', 'random deletion orders to compare with (default 3)', numberOption('--deletion-orders', 'int'))
    .option('--band <fraction>', 'outer band for border_mass, fraction of width/height per side', numberOption('--band', 'float'), 0.1)
    .option('--colormap <name>', 'inferno, viridis, magma, plasma or turbo', 'inferno')
    .option('--sheet <n>', 'with --data: overlays on the contact sheet', numberOption('--sheet', 'int'), 24)
    .addOption(inferenceBatchOption('images per Grad-CAM batch'))
    .option('--allow-ood', 'name the class of out-of-distribution images too (marked as such)')
    .addOption(backendOption())
    .addOption(threadsOption())
    .option('--json', 'one JSON line per image: {"file","predicted","target","score","peak":{"x","y"},"border_mass","calibrated","ood_score","ood_threshold","in_distribution"}')
    .action(async (files: string[], o: ExplainCliOptions) => {
      const { optionError } = await import('../../errors.js');
      const { RESEARCH_NOTICE, isSplit } = await import('../../types.js');
      const { COLORMAPS } = await import('../../explain/colormap.js');
      if (!o.run) throw optionError('--run', 'a run folder', o.run);
      if (!o.out) throw optionError('--out', 'an output folder', o.out);
      if (files.length > 0 && o.data !== undefined) throw optionError('FILE... / --data', 'image files or --data, not both', o.data);
      if (files.length === 0 && o.data === undefined) throw optionError('FILE... / --data', 'image files or --data SRC', '');
      if (o.data === undefined && (o.split !== undefined || o.limit !== undefined)) throw optionError(o.split !== undefined ? '--split' : '--limit', 'to be used with --data', o.split ?? o.limit);
      if (o.split !== undefined && !isSplit(o.split)) throw optionError('--split', 'train, val or test', o.split);
      if (o.limit !== undefined && o.limit < 1) throw optionError('--limit', 'a positive integer', o.limit);
      // --class and --contrast are checked against the run's classes when it is opened
      if (o.band !== undefined && !(o.band >= 0 && o.band < 0.5)) throw optionError('--band', 'a fraction in [0, 0.5)', o.band);
      if (o.colormap !== undefined && !(COLORMAPS as readonly string[]).includes(o.colormap)) throw optionError('--colormap', COLORMAPS.join(', '), o.colormap);
      if (o.cells !== undefined && !(o.cells >= 1 && o.cells <= 64)) throw optionError('--cells', 'an integer in [1, 64]', o.cells);
      if (o.patch !== undefined && !(o.patch > 0 && o.patch <= (o.cells ?? DEFAULT_PERTURBATION_CELLS))) throw optionError('--patch', 'a patch side in cells, > 0 and ≤ --cells', o.patch);
      if (o.deletionOrders !== undefined && !(o.deletionOrders >= 1 && o.deletionOrders <= 100)) throw optionError('--deletion-orders', 'an integer in [1, 100]', o.deletionOrders);
      if (o.sheet !== undefined && o.sheet < 0) throw optionError('--sheet', 'a number of images, 0 or more', o.sheet);

      const { explainRun, jsonLine, shown, isOutOfDistribution } = await import('../../explain/explain.js');
      const { HEAT_METHOD_LABEL } = await import('../../explain/methods.js');
      const { oodLine } = await import('../../trust/detector.js');
      const { progress } = await import('./data.js');
      const bar = await progress('explain', o.json === true);
      let failed = 0;
      const r = await explainRun({
        run: o.run,
        files: files.length > 0 ? files : undefined,
        data: o.data,
        split: o.split as 'test' | undefined,
        limit: o.limit,
        out: o.out,
        target: o.class as 'normal' | undefined,
        contrast: o.contrast as 'normal' | undefined,
        band: o.band,
        colormap: o.colormap as 'inferno' | undefined,
        sheet: o.sheet,
        batch: o.batch,
        allowOod: o.allowOod,
        method: o.method as 'insertion',
        score: o.score as 'margin',
        cells: o.cells,
        patch: o.patch,
        baseline: o.baseline as 'blur',
        faithfulness: o.faithfulness === false ? false : o.deletionOrders !== undefined ? { orders: o.deletionOrders } : o.faithfulness,
        backend: o.backend,
        threads: o.threads,
        onProgress: bar.update,
        onRecord: (rec) => {
          if (!rec.ok) failed++;
          if (o.json) process.stdout.write(JSON.stringify(jsonLine(rec, o.allowOod)) + '\n');
        },
      });
      bar.stop();
      if (o.json) {
        if (failed > 0) process.exitCode = 1;
        return;
      }
      const lines: string[] = [];
      for (const rec of r.records) {
        if (!rec.ok) {
          lines.push(`${shown(rec.file)}: cannot explain [${rec.code}]: ${rec.error}`);
          continue;
        }
        const bm = rec.border_mass === null ? '–' : rec.border_mass.toFixed(3);
        const del = rec.deletion ? `, deletion area ${rec.deletion.auc.toFixed(3)} vs random ${rec.deletion.random_auc.toFixed(3)}` : '';
        const where = `peak ${rec.peak ? `(${rec.peak.x}, ${rec.peak.y})` : '– (flat map: no positive evidence)'}, border mass ${bm}${del} → ${shown(rec.overlay)}`;
        const ood = isOutOfDistribution(rec);
        if (ood && !o.allowOod) {
          lines.push(`${shown(rec.file)}: ${oodLine(rec.ood_score, rec.ood_threshold!)}; no class given (--allow-ood shows it); ${where}`);
          continue;
        }
        const p = rec.calibrated ? `calibrated p ${rec.calibrated[rec.target].toFixed(3)}` : `score ${rec.score.toFixed(3)}`;
        const mark = ood ? ` [OUT OF DISTRIBUTION, unreliable: ood score ${rec.ood_score === null ? '∞' : rec.ood_score.toFixed(2)} > ${rec.ood_threshold!.toFixed(2)}]` : '';
        lines.push(`${shown(rec.file)}: predicted ${rec.predicted}${mark}${rec.label ? ` (true ${rec.label})` : ''}, ${HEAT_METHOD_LABEL[rec.method]} for ${rec.target}${rec.versus ? ` vs ${rec.versus}` : ''} (${p}), ${where}`);
      }
      if (r.summary) {
        const s = r.summary;
        const f = (g: { n: number; mean: number | null; median: number | null }) => (g.mean === null ? `n=${g.n}` : `n=${g.n} mean ${g.mean.toFixed(3)} median ${g.median!.toFixed(3)}`);
        lines.push('', `border mass (outer ${Math.round(s.band * 100)}% band of the original image), ${r.split} split:`);
        lines.push(`  all images        ${f(s.overall)}`);
        for (const [c, g] of Object.entries(s.by_true_class)) lines.push(`  true ${c.padEnd(12)} ${f(g)}`);
        lines.push(`  correct           ${f(s.by_outcome.correct)}`, `  incorrect         ${f(s.by_outcome.incorrect)}`);
        const fa = r.faithfulness;
        if (fa) {
          const ci = Number.isFinite(fa.gain_lo) ? ` [${fa.gain_lo.toFixed(3)}, ${fa.gain_hi.toFixed(3)}]` : '';
          lines.push(
            `faithfulness (deletion, ${fa.n} images): area ${fa.auc.toFixed(3)} vs random ${fa.random_auc.toFixed(3)}; gain ${fa.gain.toFixed(3)}${ci}; ` +
              `${fa.better_than_random ? 'beats random deletion' : 'NOT shown to beat random deletion'} (${Math.round(fa.beats_random * 100)}% of images better)`,
          );
        }
        if (r.sheet) lines.push(`contact sheet: ${shown(r.sheet)}`);
        if (r.summaryFile) lines.push(`summary: ${shown(r.summaryFile)}`);
      }
      lines.push(`${r.records.length - failed} heat maps in ${shown(r.out)}${failed ? `, ${failed} files could not be explained` : ''}`, RESEARCH_NOTICE);
      process.stdout.write(lines.join('\n') + '\n');
      if (failed > 0) process.exitCode = 1;
    });
}
