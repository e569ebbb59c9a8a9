/**
 * The run configuration: every training option, validated with zod, with defaults that reproduce
 * the study (mission.md, "Training"). A `RunConfig` is written to `RUN/config.json` in full, so a run
 * folder says exactly how it was made.
 */
import { z } from 'zod';
import { optionError } from './errors.js';
import type { ModelKind } from './types.js';

/** Study defaults per model (grid-search winners and final-run lengths). */
export const STUDY_DEFAULTS = {
  single: { epochs: 100, batch: 16, lr: 1e-4 },
  siamese: { epochs: 50, batch: 32, lr: 1e-4, pairs: 12000 },
} as const;

/** The CLI flag of each config field, so validation errors name what the user typed. */
export const FLAG_NAMES: Record<string, string> = {
  model: '--model',
  recipe: '--recipe',
  data: '--data',
  out: '--out',
  size: '--size',
  width: '--width',
  fc: '--fc',
  crop: '--crop',
  epochs: '--epochs',
  batch: '--batch',
  lr: '--lr',
  pairs: '--pairs',
  valFraction: '--val-fraction',
  testFraction: '--test-fraction',
  oneShotTrials: '--one-shot-trials',
  selectBy: '--select-by',
  seed: '--seed',
  backend: '--backend',
  threads: '--threads',
  cacheDir: '--cache-dir',
  evalBatch: '--eval-batch',
  initFrom: '--init-from',
};

const positiveInt = z.number().int().positive();

export const RunConfigSchema = z
  .object({
    model: z.enum(['single', 'siamese']),
    /**
     * Training recipe (loss, pair sampler, model options) for the siamese net; `study` is the
     * published one, `contrastive` (default) the one that learns at CPU scale (issue 6,
     * docs/siamese.md). Other recipes register in src/train/recipes.ts.
     */
    recipe: z.string().min(1).default('contrastive'),
    /** Data source (folder, CSV manifest or COVIDx split file), as the user gave it. */
    data: z.string().min(1),
    /** Run folder. */
    out: z.string().min(1),
    size: positiveInt.refine((n) => n >= 32, 'at least 32').default(224),
    width: positiveInt.refine((n) => n % 4 === 0, 'a multiple of 4').default(128),
    fc: positiveInt.default(1024),
    /** Fraction of width and height cut from each side before resizing (the study's crop experiment). */
    crop: z.number().min(0).lt(0.5).default(0),
    /** Default: 100 (single) or 50 (siamese). */
    epochs: positiveInt.optional(),
    /** Images (single) or pairs (siamese) per step. Default: 16 (single) or 32 (siamese). */
    batch: positiveInt.optional(),
    lr: z.number().positive().lt(1).default(1e-4),
    /** Pairs per siamese epoch (half same-class, half different-class). */
    pairs: positiveInt.default(12000),
    /** Validation fraction of the non-test patients when the source has no split column. */
    valFraction: z.number().gt(0).lt(1).default(0.2),
    /** Test fraction of the patients when the source has no split column. */
    testFraction: z.number().min(0).lt(1).default(0.2),
    /** 3-way one-shot trials for siamese validation (Koch et al.). */
    oneShotTrials: positiveInt.default(129),
    /**
     * Siamese: the validation metric that picks the best checkpoint. `template` (default): accuracy
     * of classifying each validation image by its closest class template (the rule evaluate and
     * predict use); `one-shot`: the study's 3-way one-shot accuracy (random single support images,
     * noisier). Both are recorded every epoch.
     */
    selectBy: z.enum(['template', 'one-shot']).default('template'),
    seed: z.number().int().min(0).default(1),
    backend: z.string().optional(),
    threads: positiveInt.optional(),
    /** Folder for the preprocessed-image cache; default the data pipeline's ($COVIDNET_CACHE or ~/.cache/covidnet). */
    cacheDir: z.string().optional(),
    /** Images per inference batch (validation, templates, evaluation). */
    evalBatch: positiveInt.default(32),
    /**
     * A single-net run folder whose trained weights start the siamese encoder (every layer of the
     * same name and shape; issue 6). Ignored on --resume (the checkpoint wins).
     */
    initFrom: z.string().min(1).optional(),
    /** Stop after this many epochs in this process (used by tests to simulate a killed run). */
    stopAfter: positiveInt.optional(),
  })
  .strict();

export type RunConfigInput = z.input<typeof RunConfigSchema>;
/** A validated config with the per-model defaults filled in. */
export type RunConfig = Omit<z.output<typeof RunConfigSchema>, 'epochs' | 'batch'> & {
  model: ModelKind;
  epochs: number;
  batch: number;
};

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

/** Turn the first zod issue into an `E_OPTION` error naming the flag, the expectation and the value. */
export function zodToOptionError(err: z.ZodError, input: Record<string, unknown>): Error {
  const issue = err.issues[0]!;
  const key = String(issue.path[0] ?? '');
  const flag = FLAG_NAMES[key] ?? (key ? key : 'config');
  let expected: string = issue.message;
  if (issue.code === 'invalid_enum_value') expected = `one of ${issue.options.join(', ')}`;
  else if (issue.code === 'invalid_type') expected = issue.expected;
  else if (issue.code === 'too_small') expected = `${issue.inclusive ? 'at least' : 'more than'} ${String(issue.minimum)}`;
  else if (issue.code === 'too_big') expected = `${issue.inclusive ? 'at most' : 'less than'} ${String(issue.maximum)}`;
  else if (issue.code === 'unrecognized_keys') return optionError(issue.keys.join(', '), 'a known option', 'unknown');
  return optionError(flag, expected, key ? input[key] : input);
}

/** Parse a numeric CLI value strictly ("1e-4" yes, "abc" or "" no); the error names the flag. */
export function numberOption(flag: string, kind: 'int' | 'float') {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || (kind === 'int' && !Number.isInteger(n))) {
      throw optionError(flag, kind === 'int' ? 'an integer' : 'a number', value);
    }
    return n;
  };
}
