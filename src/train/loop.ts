/**
 * The one training loop, for every model and recipe: epochs, the task's steps through Adam,
 * validation, the best checkpoint (`RUN/model`), the history, the resume state (`RUN/last`) and
 * progress events. What differs between models lives in the task (task.ts).
 */
import * as tf from '../tf.js';
import { CovidNetError } from '../errors.js';
import { rngFromState } from '../util/rng.js';
import { saveModel } from '../run/modelio.js';
import { runPath, writeHistory, type EpochRecord } from '../run/files.js';
import { saveLast, type TrainState } from './checkpoint.js';
import { optimizerStep } from './step.js';
import type { TrainingTask } from './task.js';
import type { TrainEvent } from './events.js';

export interface LoopOptions {
  run: string;
  epochs: number;
  lr: number;
  batch: number;
  /** Stop after this many epochs in this process (resume to finish). */
  stopAfter?: number | undefined;
  emit: (e: TrainEvent) => void;
}

/** Numbers only when finite: JSON would turn NaN into null. */
function finite<K extends string>(k: K, v: number | undefined): Partial<Record<K, number>> {
  return v !== undefined && Number.isFinite(v) ? ({ [k]: v } as Record<K, number>) : {};
}

/** Train `model` from `state` to `opts.epochs`; appends to `history`; returns the state after the last epoch run. */
export async function runEpochs(task: TrainingTask, model: tf.LayersModel, opt: tf.AdamOptimizer, start: TrainState, history: EpochRecord[], opts: LoopOptions): Promise<TrainState> {
  const { run, emit } = opts;
  let state = start;
  for (let done = 0; state.epoch < opts.epochs; done++) {
    if (opts.stopAfter !== undefined && done >= opts.stopAfter) break;
    const epoch = state.epoch + 1;
    const rng = rngFromState(state.rngState);
    const t0 = performance.now();
    const plan = task.planEpoch(model, rng);
    emit({ type: 'epoch-start', epoch, epochs: opts.epochs, steps: plan.steps, samples: plan.samples });
    let lossSum = 0;
    let samples = 0;
    for (let i = 0; i < plan.steps; i++) {
      const r = plan.runStep(i, (lossFn) => optimizerStep(model, opt, rng, lossFn));
      if (!Number.isFinite(r.loss)) {
        // the weights are now garbage: stop before they reach a checkpoint, so model/ and last/ keep the last good epoch
        throw new CovidNetError(
          'E_DIVERGED',
          `training diverged: the loss became ${r.loss} at epoch ${epoch}, step ${i + 1} (lr ${opts.lr}); ${state.epoch > 0 ? `the checkpoints of epoch ${state.epoch} are kept (model/ = best, last/ = resume state)` : 'no epoch had finished, so nothing was saved'}. Try a smaller --lr.`,
          { file: run },
        );
      }
      lossSum += r.loss * r.samples;
      samples += r.samples;
      emit({ type: 'step', epoch, step: i + 1, steps: plan.steps, samples, loss: lossSum / samples, tensors: tf.memory().numTensors });
    }
    const trainSeconds = (performance.now() - t0) / 1000;
    emit({ type: 'validating', epoch });
    const v = await task.validate(model);
    const trainAcc = plan.trainAccuracy();
    const best = v.selection > state.bestValAccuracy;
    if (best) await saveModel(model, runPath(run, 'model'));
    const seconds = (performance.now() - t0) / 1000;
    const record: EpochRecord = {
      epoch,
      loss: samples ? lossSum / samples : NaN,
      ...finite('train_accuracy', trainAcc),
      ...(Number.isFinite(trainAcc) ? { train_metric: task.trainMetric } : {}),
      ...finite('val_loss', v.loss),
      val_accuracy: v.selection,
      val_metric: v.metric,
      ...finite('val_one_shot_accuracy', v.extra.val_one_shot_accuracy),
      ...finite('val_template_accuracy', v.extra.val_template_accuracy),
      ...finite('val_pair_accuracy', v.extra.val_pair_accuracy),
      best,
      steps: plan.steps,
      samples,
      seconds: Math.round(seconds * 100) / 100,
      samples_per_second: Math.round((samples / trainSeconds) * 100) / 100,
      lr: opts.lr,
      batch: opts.batch,
    };
    history.push(record);
    await writeHistory(run, history);
    state = {
      epoch,
      rngState: rng.state(),
      bestEpoch: best ? epoch : state.bestEpoch,
      bestValAccuracy: best ? v.selection : state.bestValAccuracy,
    };
    await saveLast(runPath(run, 'last'), model, opt, state);
    emit({ type: 'epoch', record });
  }
  return state;
}
