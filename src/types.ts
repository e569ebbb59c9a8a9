/**
 * The study's three classes, in the fixed order used for outputs, one-hot targets and tables
 * unless a run says otherwise: a run trained with `--classes` has its own list (config.json,
 * preprocess.json), and a siamese run can gain classes from a few examples (templates.json). Code
 * that scores, tables or explains a run's images takes the run's `classes`, not this constant.
 */
export const CLASSES = ['normal', 'pneumonia', 'COVID-19'] as const;
export type StudyClass = (typeof CLASSES)[number];
/** A class label: one of the study's, or a name a run was given (`--classes`, `templates add`). */
export type ClassName = string;

export const SPLITS = ['train', 'val', 'test'] as const;
export type Split = (typeof SPLITS)[number];

export type ModelKind = 'single' | 'siamese';

/** Names a class may have: printable, no commas (lists are comma-separated), at most 64 characters. */
export const CLASS_NAME_PATTERN = /^[\p{L}\p{N}][\p{L}\p{N} ._+()-]{0,63}$/u;

/** A list of at least two distinct, well-formed class names (a run's classes). */
export function validClassList(c: unknown): c is ClassName[] {
  return Array.isArray(c) && c.length >= 2 && c.every((x) => typeof x === 'string' && CLASS_NAME_PATTERN.test(x)) && new Set(c).size === c.length;
}

export function isStudyClass(s: string): s is StudyClass {
  return (CLASSES as readonly string[]).includes(s);
}
/** `s` is one of `classes` (a run's list). */
export function isClassName(s: string, classes: readonly ClassName[]): boolean {
  return classes.includes(s);
}
export function isSplit(s: string): s is Split {
  return (SPLITS as readonly string[]).includes(s);
}
/** Index of `c` in `classes` (a run's list, or CLASSES); -1 when absent. */
export function classIndex(c: ClassName, classes: readonly ClassName[]): number {
  return classes.indexOf(c);
}

/**
 * The classes present in `labels`, in a fixed order: the study's first (CLASSES order), then any
 * others by name. Seeds and tie-breaks follow this order, so a source of the study's classes splits
 * exactly as before other classes existed, and adding a class's images moves no other image.
 */
export function classesOf(labels: Iterable<ClassName>): ClassName[] {
  const present = new Set(labels);
  const study = CLASSES.filter((c) => present.has(c));
  const others = [...present].filter((c) => !isStudyClass(c)).sort();
  return [...study, ...others];
}

/** Every human-readable output of the tool carries this line. */
export const RESEARCH_NOTICE = 'Research tool, not a medical device: do not use for diagnosis.';
