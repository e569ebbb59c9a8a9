/**
 * A siamese run's classes, edited after training: a class is added from a few example images (its
 * template is the mean embedding of the examples, as a trained class's is the mean over its
 * training images), listed, or removed. `templates.json` keeps every class the run scores, and
 * for an added class the files and their SHA-256, so the run says exactly what it was given;
 * predict, evaluate, explain, serve and the report then use every class it has. A single-net run
 * has one output per trained class, so a class cannot be added without retraining: it is refused.
 *
 *   await addClass('runs/siamese', 'tuberculosis', { files: ['tb1.png', 'tb2.png'] });
 *   await listClasses('runs/siamese');   // [{ class: 'normal', origin: 'trained', images: 120 }, …]
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { loadDataset, preprocessFile, shotSubset } from '../data/index.js';
import { CovidNetError, isCovidNetError, optionError } from '../errors.js';
import { CLASS_NAME_PATTERN, type ClassName } from '../types.js';
import { meanRow } from '../model/infer.js';
import { readPreprocess, readSplits, readTemplates, runPath, TEMPLATES_FORMAT_VERSION, writeJsonAtomic, type AddedClass, type TemplatesFile } from './files.js';
import { lockRun } from './lock.js';
import { RunModel } from './run-model.js';

export interface ClassTemplateInfo {
  class: ClassName;
  /** `trained`: from the training images; `added`: from examples given after training. */
  origin: 'trained' | 'added';
  /** Images its template is the mean embedding of. */
  images: number;
  /** Added classes: the example files (as recorded) and when. */
  files?: string[];
  addedAt?: string;
}

export interface AddClassOptions {
  /** Example image files. */
  files?: readonly string[] | undefined;
  /** Or: a data source and the label whose images to take from it. */
  data?: string | undefined;
  label?: string | undefined;
  /** With `data`: use this many of the label's images, drawn with `seed` (default all). */
  shots?: number | undefined;
  seed?: number | undefined;
  /** Replace the template of a class the run already has (default: refuse). */
  replace?: boolean | undefined;
  backend?: string | undefined;
  threads?: number | undefined;
  batch?: number | undefined;
}

export interface AddClassResult {
  run: string;
  class: ClassName;
  /** The example images the template was made from. */
  files: string[];
  /** Files that could not be read (each named with the reason); the others were used. */
  skipped: { file: string; code: string; reason: string }[];
  classes: ClassName[];
  replaced: boolean;
}

async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

/** Refuses a run that is not siamese, with the reason a single net cannot gain a class. */
async function requireSiamese(run: string): Promise<void> {
  const pre = await readPreprocess(run);
  if (pre.model !== 'siamese') {
    throw new CovidNetError(
      'E_RUN',
      `a ${pre.model}-net run cannot gain a class from examples: its classifier has one output per trained class (${pre.classes.join(', ')}), so a new class needs retraining (train a siamese run, whose classes are templates, or retrain with --classes)`,
      { file: run },
    );
  }
}

/** The classes of a siamese run, trained and added, with how many images each template averages. */
export async function listClasses(run: string): Promise<ClassTemplateInfo[]> {
  await requireSiamese(run);
  const t = await readTemplates(run);
  const added = new Map((t.added ?? []).map((a) => [a.class, a]));
  return t.classes.map((c, i): ClassTemplateInfo => {
    const a = added.get(c);
    return a ? { class: c, origin: 'added', images: t.counts[i] ?? a.files.length, files: a.files.map((f) => f.file), addedAt: a.addedAt } : { class: c, origin: 'trained', images: t.counts[i] ?? 0 };
  });
}

/** The example files of `opts`: the given files, or the label's images of a data source (never the run's validation or test images). */
async function exampleFiles(run: string, className: ClassName, opts: AddClassOptions): Promise<string[]> {
  const given = opts.files ?? [];
  if ((given.length > 0) === (opts.data !== undefined)) throw optionError('FILE... | --data', 'example image files or --data SRC --label L (one of them)', opts.data ?? given);
  if (given.length > 0) return given.map((f) => resolve(f));
  const label = opts.label ?? className;
  const ds = await loadDataset(opts.data!, { extraClasses: [label] });
  let items = ds.items.filter((it) => it.label.toLowerCase() === label.toLowerCase());
  // the run's validation and test images stay unseen, so evaluate can still score them
  const splits = await readSplits(run).catch(() => undefined);
  if (splits) {
    const held = new Set([...splits.splits.val, ...splits.splits.test].map((e) => resolve(splits.base, e.file)));
    items = items.filter((it) => !held.has(resolve(it.file)));
  }
  items = items.filter((it) => it.split !== 'test' && it.split !== 'val');
  if (items.length === 0) throw new CovidNetError('E_SOURCE', `no images labelled ${label} outside the run's validation and test images`, { file: opts.data! });
  const files = items.map((it) => resolve(it.file));
  if (opts.shots === undefined) return files.sort();
  if (opts.shots > files.length) throw optionError('--shots', `at most ${files.length} (the images labelled ${label} there)`, opts.shots);
  // the draw of `train --shots CLASS:K --seed S`, so a few-shot template and a fine-tuned net see the same images
  return shotSubset(files.map((file) => ({ file })), opts.shots, opts.seed ?? 1).map((f) => f.file);
}

/**
 * Add (or with `replace`, re-make) a class of a siamese run from example images: the template is
 * the mean of their embeddings under the run's best model and preprocessing. Unreadable files are
 * skipped and named; at least one must be readable. Written atomically under the run's lock.
 */
export async function addClass(run: string, className: ClassName, opts: AddClassOptions = {}): Promise<AddClassResult> {
  if (!CLASS_NAME_PATTERN.test(className)) throw optionError('--class', 'a class name of letters, digits, spaces and ._+()- (no commas)', className);
  await requireSiamese(run);
  const files = await exampleFiles(run, className, opts);
  const lock = await lockRun(run);
  try {
    const t = await readTemplates(run);
    const at = t.classes.indexOf(className);
    const trained = at >= 0 && !(t.added ?? []).some((a) => a.class === className);
    if (at >= 0 && !opts.replace) throw optionError('--class', `a class the run does not have yet (it has ${t.classes.join(', ')}; --replace re-makes a template)`, className);
    if (trained) throw optionError('--class', `an added class (${className} is a trained class; its template comes from the training images)`, className);
    const rm = await RunModel.open(run, { backend: opts.backend, threads: opts.threads });
    const used: string[] = [];
    const pixels: Uint8Array[] = [];
    const skipped: AddClassResult['skipped'] = [];
    let embeddings: Float32Array[];
    try {
      for (const f of files) {
        try {
          pixels.push((await preprocessFile(f, { size: rm.preprocess.size, crop: rm.preprocess.crop })).pixels);
          used.push(f);
        } catch (e) {
          if (!isCovidNetError(e)) throw e;
          skipped.push({ file: f, code: e.code, reason: e.reason });
        }
      }
      if (pixels.length === 0) throw new CovidNetError('E_SOURCE', `none of the ${files.length} example images could be read (${skipped[0]?.code}: ${skipped[0]?.reason})`, { file: files[0] ?? run });
      embeddings = await rm.embedImages(pixels, opts.batch);
    } finally {
      rm.dispose();
    }
    const template = Array.from(meanRow(embeddings));
    const entry: AddedClass = { class: className, files: await Promise.all(used.map(async (f) => ({ file: f, sha256: await sha256(f) }))), addedAt: new Date().toISOString() };
    const next: TemplatesFile = {
      ...t,
      version: TEMPLATES_FORMAT_VERSION,
      classes: at >= 0 ? t.classes : [...t.classes, className],
      templates: at >= 0 ? t.templates.map((r, i) => (i === at ? template : r)) : [...t.templates, template],
      counts: at >= 0 ? t.counts.map((n, i) => (i === at ? used.length : n)) : [...t.counts, used.length],
      added: [...(t.added ?? []).filter((a) => a.class !== className), entry],
    };
    await writeJsonAtomic(runPath(run, 'templates'), next);
    return { run: resolve(run), class: className, files: used, skipped, classes: [...next.classes], replaced: at >= 0 };
  } finally {
    await lock.release();
  }
}

/**
 * Remove a class from a siamese run's templates (a trained class too: the run then no longer
 * predicts it). At least two classes stay; a removed trained class comes back only by retraining.
 */
export async function removeClass(run: string, className: ClassName): Promise<{ run: string; class: ClassName; classes: ClassName[]; origin: 'trained' | 'added' }> {
  await requireSiamese(run);
  const lock = await lockRun(run);
  try {
    const t = await readTemplates(run);
    const at = t.classes.indexOf(className);
    if (at < 0) throw optionError('--class', `a class of the run (${t.classes.join(', ')})`, className);
    if (t.classes.length <= 2) throw optionError('--class', 'a class of a run with more than two (a classifier needs two classes)', className);
    const origin = (t.added ?? []).some((a) => a.class === className) ? 'added' : 'trained';
    const next: TemplatesFile = {
      ...t,
      version: TEMPLATES_FORMAT_VERSION,
      classes: t.classes.filter((_, i) => i !== at),
      templates: t.templates.filter((_, i) => i !== at),
      counts: t.counts.filter((_, i) => i !== at),
      added: (t.added ?? []).filter((a) => a.class !== className),
    };
    await writeJsonAtomic(runPath(run, 'templates'), next);
    return { run: resolve(run), class: className, classes: [...next.classes], origin };
  } finally {
    await lock.release();
  }
}
