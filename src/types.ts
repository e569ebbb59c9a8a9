/** The three classes of the study, in the fixed order used for outputs, one-hot targets and tables. */
export const CLASSES = ['normal', 'pneumonia', 'COVID-19'] as const;
export type ClassName = (typeof CLASSES)[number];

export const SPLITS = ['train', 'val', 'test'] as const;
export type Split = (typeof SPLITS)[number];

export type ModelKind = 'single' | 'siamese';

export function isClassName(s: string): s is ClassName {
  return (CLASSES as readonly string[]).includes(s);
}
export function isSplit(s: string): s is Split {
  return (SPLITS as readonly string[]).includes(s);
}
export function classIndex(c: ClassName): number {
  return CLASSES.indexOf(c);
}

/** Every human-readable output of the tool carries this line. */
export const RESEARCH_NOTICE = 'Research tool, not a medical device: do not use for diagnosis.';
