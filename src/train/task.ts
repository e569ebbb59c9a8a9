/**
 * A training task: what one model with one recipe does inside the generic loop (loop.ts). The
 * loop owns epochs, checkpoints, history, resume and progress; the task owns the batches, the
 * loss, the training tally and the validation metrics.
 */
import type * as tf from '../tf.js';
import type { EpochRecord } from '../run/files.js';
import type { Rng } from '../util/rng.js';
import type { Optimize } from './step.js';

/** One epoch's work, planned up front (the plan draws from the run's RNG before the first step). */
export interface EpochPlan {
  /** Optimizer steps in the epoch. */
  steps: number;
  /** What the epoch trains on: images (single net) or pairs (siamese). */
  samples: number;
  /** Step `i` (0-based) through `optimize`; returns its loss and the samples it averages over. */
  runStep(i: number, optimize: Optimize): { loss: number; samples: number };
  /** Accuracy counted from the steps' outputs so far (NaN before any). */
  trainAccuracy(): number;
}

/** An epoch's validation: the metric that chooses the checkpoint, the loss, and extra history fields. */
export interface TaskValidation {
  /** Higher is better; the best epoch's model is kept as `RUN/model`. */
  selection: number;
  metric: EpochRecord['val_metric'];
  loss: number;
  /** Extra `val_*` fields of the history record (non-finite ones are left out). */
  extra: Partial<Record<'val_one_shot_accuracy' | 'val_template_accuracy' | 'val_pair_accuracy', number>>;
}

export interface TrainingTask {
  /** What `train_accuracy` counts. */
  readonly trainMetric: NonNullable<EpochRecord['train_metric']>;
  /** The metric that chooses the checkpoint (fixed for the run). */
  readonly selectionMetric: EpochRecord['val_metric'];
  buildModel(): tf.LayersModel;
  planEpoch(model: tf.LayersModel, rng: Rng): EpochPlan;
  validate(model: tf.LayersModel): Promise<TaskValidation>;
}
