/**
 * The run configuration: every training option, declared once in `RUN_OPTIONS` (its zod schema
 * with the study's default, its help text, whether it is a CLI flag and whether it is fixed when a
 * run is resumed). The schema, the flag names in errors, the resume check, the CLI options
 * (src/cli/options.ts) and their TypeScript types are all derived from that table, so adding an
 * option is one entry. A `RunConfig` is written to `RUN/config.json` in full, so a run folder says
 * exactly how it was made. Defaults reproduce the study (docs/training.md).
 */
import { z } from 'zod';
import { optionError } from './errors.js';
import { CLASSES, CLASS_NAME_PATTERN, type ClassName, type ModelKind } from './types.js';

/** Study defaults per model (grid-search winners and final-run lengths). */
export const STUDY_DEFAULTS = {
  single: { epochs: 100, batch: 16, lr: 1e-4 },
  siamese: { epochs: 50, batch: 32, lr: 1e-4, pairs: 12000 },
} as const;

/** Most worker threads any option accepts (native kernels and image decoding alike). */
export const MAX_THREADS = 256;

/** How an option appears outside the library. */
export interface OptionMeta {
  /** Help text; the default, when the schema has one, is appended by the CLI. */
  help: string;
  /** The value's placeholder in help (`<n>`, `<f>`, `<name>`); false: not a CLI flag (library only). */
  arg: string | false;
  /** Changing it on `--resume` would make a different run, so a resumed run refuses another value. */
  fixedOnResume?: boolean;
  /** Only this model uses it; given for the other, training says it is ignored. */
  model?: ModelKind;
}

function option<S extends z.ZodTypeAny>(schema: S, meta: OptionMeta): { schema: S; meta: OptionMeta } {
  return { schema, meta };
}

const positiveInt = z.number().int().min(1);
/** Upper bounds: far above any sensible value, low enough that a typo fails at once instead of exhausting memory. */
const MAX_BATCH = 4096;
/** The seeded RNG and its derived seeds work on 31-bit integers. */
const MAX_SEED = 2 ** 31 - 1;

/** A comma-separated list (CLI) or an array (library) of distinct class names, at least two. */
const classList = z.preprocess(
  (v) => (typeof v === 'string' ? v.split(',').map((c) => c.trim()).filter((c) => c !== '') : v),
  z
    .array(z.string().regex(CLASS_NAME_PATTERN, 'class names of letters, digits, spaces and ._+()- (no commas)'))
    .min(2)
    .max(64)
    .refine((a) => new Set(a).size === a.length, 'distinct class names'),
);

/** Every run option, once. The CLI flag of `fooBar` is `--foo-bar`. */
export const RUN_OPTIONS = {
  model: option(z.enum(['single', 'siamese']), { arg: '<kind>', help: 'single or siamese', fixedOnResume: true }),
  /**
   * Training recipe (loss, pair sampler, model options) for the siamese net; `study` is the
   * published one, `contrastive` the one that learns at CPU scale (docs/siamese.md). Other recipes
   * register in src/train/recipes.ts.
   */
  recipe: option(z.string().min(1).default('contrastive'), { arg: '<name>', help: 'siamese training recipe: contrastive or study (the published one)', fixedOnResume: true, model: 'siamese' }),
  /** Data source (folder, CSV manifest or COVIDx split file), as the user gave it. */
  data: option(z.string().min(1), { arg: '<src>', help: 'data source: folder per class, CSV manifest or COVIDx split file' }),
  out: option(z.string().min(1), { arg: '<run>', help: 'run folder' }),
  size: option(positiveInt.min(32).max(1024).default(224), { arg: '<n>', help: 'input side in pixels (CPU config 112)', fixedOnResume: true }),
  width: option(positiveInt.max(1024).refine((n) => n % 4 === 0, 'a multiple of 4').default(128), { arg: '<n>', help: 'first-stage PEPX width (CPU config 32)', fixedOnResume: true }),
  fc: option(positiveInt.max(16384).default(1024), { arg: '<n>', help: 'units of the first dense layer (CPU config 256)', fixedOnResume: true }),
  /** Fraction of width and height cut from each side before resizing (the study's crop experiment). */
  crop: option(z.number().min(0).lt(0.5).default(0), { arg: '<f>', help: 'fraction cut from each side before resizing', fixedOnResume: true }),
  /** Default: 100 (single) or 50 (siamese). */
  epochs: option(positiveInt.max(100000).optional(), { arg: '<n>', help: 'epochs (default: single 100, siamese 50)' }),
  /** Images (single) or pairs (siamese) per step. Default: 16 (single) or 32 (siamese). */
  batch: option(positiveInt.max(MAX_BATCH).optional(), { arg: '<n>', help: 'images (single) or pairs (siamese) per step (default: 16 / 32)', fixedOnResume: true }),
  lr: option(z.number().positive().lt(1).default(1e-4), { arg: '<l>', help: 'Adam learning rate', fixedOnResume: true }),
  /** Pairs per siamese epoch (half same-class, half different-class). */
  pairs: option(positiveInt.max(10_000_000).default(12000), { arg: '<n>', help: 'siamese pairs per epoch (study recipe)', fixedOnResume: true, model: 'siamese' }),
  /** Validation fraction of the non-test patients when the source has no split column. */
  valFraction: option(z.number().gt(0).lt(1).default(0.2), { arg: '<f>', help: 'validation fraction when the source has no split column', fixedOnResume: true }),
  /** Test fraction of the patients when the source has no split column. */
  testFraction: option(z.number().min(0).lt(1).default(0.2), { arg: '<f>', help: 'test fraction (by patient) when the source has no split column', fixedOnResume: true }),
  /** 3-way one-shot trials for siamese validation (Koch et al.). */
  oneShotTrials: option(positiveInt.max(1_000_000).default(129), { arg: '<n>', help: 'siamese 3-way one-shot validation trials', model: 'siamese' }),
  /**
   * Siamese: the validation metric that picks the best checkpoint. `template`: accuracy of
   * classifying each validation image by its closest class template (the rule evaluate and
   * predict use); `one-shot`: the study's 3-way one-shot accuracy (random single support images,
   * noisier). Both are recorded every epoch.
   */
  selectBy: option(z.enum(['template', 'one-shot']).default('template'), { arg: '<metric>', help: "siamese: validation metric that picks the checkpoint: template or one-shot (the study's)", fixedOnResume: true, model: 'siamese' }),
  seed: option(z.number().int().min(0).max(MAX_SEED).default(1), { arg: '<n>', help: 'seed of initialisation, samplers and (unless --split-seed) the split', fixedOnResume: true }),
  /** Seed of the patient-disjoint split alone, so runs with different training seeds share one split (experiments). Default: `seed`. */
  splitSeed: option(z.number().int().min(0).max(MAX_SEED).optional(), { arg: '<n>', help: 'seed of the train/val/test split (default: --seed)', fixedOnResume: true }),
  /**
   * Train on at most this many images per class: a seeded subset of the training split, nested
   * (for one seed, the 10 images of a class include its 5), validation and test untouched.
   */
  perClass: option(positiveInt.max(10_000_000).optional(), { arg: '<n>', help: 'train on at most this many images per class (nested seeded subset of the training split)', fixedOnResume: true }),
  /**
   * Train on these classes only, in this order (the outputs' and tables' order): a subset of the
   * study's, or names the source's labels use. Images of other classes are left out of every split
   * (the split itself is made over all images, so it matches a run on every class). Default: the
   * study's normal, pneumonia, COVID-19.
   */
  classes: option(classList.optional(), { arg: '<list>', help: "train on these classes only, comma-separated (default: the study's normal,pneumonia,COVID-19)", fixedOnResume: true }),
  backend: option(z.string().optional(), { arg: '<name>', help: 'onednn, wasm or cpu (default: the fastest available)' }),
  threads: option(positiveInt.max(MAX_THREADS).optional(), { arg: '<n>', help: 'threads for native kernels and image decoding (default: COVIDNET_THREADS or all cores)' }),
  /** Folder for the preprocessed-image cache; default the data pipeline's ($COVIDNET_CACHE or ~/.cache/covidnet). */
  cacheDir: option(z.string().optional(), { arg: '<dir>', help: 'cache of preprocessed images (default: COVIDNET_CACHE or ~/.cache/covidnet)' }),
  /** Images per inference batch (validation, templates, evaluation). */
  evalBatch: option(positiveInt.max(MAX_BATCH).default(32), { arg: '<n>', help: 'images per inference batch (validation, templates)' }),
  /**
   * A single-net run folder whose trained weights start the siamese encoder (every layer of the
   * same name and shape; docs/siamese.md). Ignored on --resume (the checkpoint wins).
   */
  initFrom: option(z.string().min(1).optional(), { arg: '<run>', help: "start from this single-net run's trained weights (every layer of the same name and shape: the siamese encoder, or a single net fine-tuned for other classes)" }),
  /**
   * Train only the dense head (the layers after `feature_sum`: fc1, fc2 and the classifier or the
   * embedding), the convolutional trunk kept as initialised: fine-tuning an `--init-from` net on a
   * few images without moving its features.
   */
  freeze: option(z.enum(['none', 'trunk']).default('none'), { arg: '<part>', help: 'none, or trunk: train only the dense head (with --init-from, fine-tuning on a few images)', fixedOnResume: true }),
  /**
   * Train on only K images of one class, `CLASS:K` (a seeded subset of its training split, the same
   * K images `templates add --data … --shots K --seed S` takes): the few-shot baselines.
   */
  shots: option(z.string().regex(/^[^:,]+:[1-9][0-9]{0,6}$/, 'CLASS:K, e.g. COVID-19:5').optional(), { arg: '<class:k>', help: 'train on only K images of CLASS (seeded subset of its training split), e.g. COVID-19:5', fixedOnResume: true }),
  /** Stop after this many epochs in this process (used by tests to simulate a killed run). */
  stopAfter: option(positiveInt.max(100000).optional(), { arg: false, help: 'stop after this many epochs in this process' }),
};

export type RunOptionKey = keyof typeof RUN_OPTIONS;
export const RUN_OPTION_KEYS = Object.keys(RUN_OPTIONS) as RunOptionKey[];

type Shape = { [K in RunOptionKey]: (typeof RUN_OPTIONS)[K]['schema'] };
const shape = Object.fromEntries(RUN_OPTION_KEYS.map((k) => [k, RUN_OPTIONS[k].schema])) as Shape;

export const RunConfigSchema = z.object(shape).strict();

export type RunConfigInput = z.input<typeof RunConfigSchema>;
/** A validated config with the per-model defaults filled in. */
export type RunConfig = Omit<z.output<typeof RunConfigSchema>, 'epochs' | 'batch'> & {
  model: ModelKind;
  epochs: number;
  batch: number;
};

/** The CLI flag of a config field (`valFraction` → `--val-fraction`), so errors name what the user typed. */
export function flagOf(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`;
}

/** The classes a run is trained on, in output order: `--classes`, else the study's. */
export function runClasses(config: Pick<RunConfig, 'classes'>): readonly ClassName[] {
  return config.classes ?? CLASSES;
}

/** Options whose change on --resume would make a different run. */
export const FIXED_ON_RESUME: readonly RunOptionKey[] = RUN_OPTION_KEYS.filter((k) => RUN_OPTIONS[k].meta.fixedOnResume === true);

/**
 * Validate a config; a bad value throws `optionError(flag, expected, actual)` naming the CLI flag.
 */
export function parseRunConfig(input: Record<string, unknown>): RunConfig {
  const r = RunConfigSchema.safeParse(input);
  if (!r.success) throw zodToOptionError(r.error, input);
  const c = r.data;
  const d = STUDY_DEFAULTS[c.model];
  return { ...c, epochs: c.epochs ?? d.epochs, batch: c.batch ?? d.batch };
}

/**
 * Options set to a non-default value that the chosen model does not use (e.g. `--pairs` for the
 * single net): training names them instead of ignoring them silently.
 */
export function inapplicableOptions(model: ModelKind, given: Partial<Record<RunOptionKey, unknown>>): RunOptionKey[] {
  return RUN_OPTION_KEYS.filter((k) => {
    const m = RUN_OPTIONS[k].meta.model;
    return m !== undefined && m !== model && given[k] !== undefined && given[k] !== describeSchema(RUN_OPTIONS[k].schema).default;
  });
}

/** The fields of `values` that are run options (e.g. a CLI command's parsed options), undefined ones dropped. */
export function pickRunOptions(values: object): Partial<RunConfigInput> {
  const raw: Record<string, unknown> = {};
  for (const k of RUN_OPTION_KEYS) {
    const v = (values as Record<string, unknown>)[k];
    if (v !== undefined) raw[k] = v;
  }
  return raw as Partial<RunConfigInput>;
}

/** What a zod issue expected, in the words every option error uses. */
function expectation(issue: z.ZodIssue): string {
  if (issue.code === 'invalid_enum_value') return `one of ${issue.options.join(', ')}`;
  if (issue.code === 'invalid_type') return issue.expected;
  if (issue.code === 'too_small') return `${issue.inclusive ? 'at least' : 'more than'} ${String(issue.minimum)}`;
  if (issue.code === 'too_big') return `${issue.inclusive ? 'at most' : 'less than'} ${String(issue.maximum)}`;
  return issue.message;
}

/** Turn the first zod issue into an `E_OPTION` error naming the flag, the expectation and the value. */
export function zodToOptionError(err: z.ZodError, input: Record<string, unknown>): Error {
  const issue = err.issues[0]!;
  const key = String(issue.path[0] ?? '');
  const flag = key in RUN_OPTIONS ? flagOf(key) : key ? key : 'config';
  if (issue.code === 'unrecognized_keys') return optionError(issue.keys.join(', '), 'a known option', 'unknown');
  return optionError(flag, expectation(issue), key ? input[key] : input);
}

/**
 * Check one value of a run option against its declaration (the same limits and messages wherever
 * the option appears; `flag` is how this command spells it). Returns the parsed value.
 */
export function checkOptionValue(key: RunOptionKey, value: unknown, flag: string = flagOf(key)): unknown {
  const r = RUN_OPTIONS[key].schema.safeParse(value);
  if (!r.success) throw optionError(flag, expectation(r.error.issues[0]!), value);
  return r.data;
}

/** What a schema accepts, for the CLI's parser and help: its kind and its default (if any). */
export function describeSchema(schema: z.ZodTypeAny): { kind: 'int' | 'float' | 'text'; default?: unknown } {
  let s: z.ZodTypeAny = schema;
  let dflt: unknown;
  for (;;) {
    if (s instanceof z.ZodDefault) {
      dflt = (s._def as { defaultValue: () => unknown }).defaultValue();
      s = s._def.innerType as z.ZodTypeAny;
    } else if (s instanceof z.ZodOptional) s = s._def.innerType as z.ZodTypeAny;
    else if (s instanceof z.ZodEffects) s = s._def.schema as z.ZodTypeAny;
    else break;
  }
  const kind = s instanceof z.ZodNumber ? (s.isInt ? 'int' : 'float') : 'text';
  return dflt === undefined ? { kind } : { kind, default: dflt };
}

/** A decimal number as people write it: no hex, octal or binary (`0x2`), no `Infinity`. */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** Parse a numeric CLI value strictly ("1e-4" yes, "abc", "0x2" or "" no); the error names the flag. */
export function numberOption(flag: string, kind: 'int' | 'float') {
  return (value: string): number => {
    const n = Number(value);
    if (!DECIMAL.test(value.trim()) || !Number.isFinite(n) || (kind === 'int' && !Number.isSafeInteger(n))) {
      throw optionError(flag, kind === 'int' ? 'an integer' : 'a number', value);
    }
    return n;
  };
}
