/**
 * The siamese net with a recipe: pair recipes step on pairs of images (the study's), batch
 * recipes on class-balanced batches with every pair inside a batch. Validation is the same for
 * both: one-shot, template and pair metrics from one embedding pass (validation.ts).
 */
import * as tf from '../../tf.js';
import { balancedEpoch } from '../../data/index.js';
import { classIndex, type ClassName } from '../../types.js';
import type { Rng } from '../../util/rng.js';
import { runClasses, type RunConfig } from '../../config.js';
import type { TrainingData } from '../data.js';
import type { BatchRecipe, PairRecipe, SiameseRecipe } from '../recipe.js';
import { batchTensor, chunk, Kept } from '../step.js';
import { PairTally } from '../tally.js';
import { siameseValidation } from '../validation.js';
import type { EpochPlan, TaskValidation, TrainingTask } from '../task.js';

export function siameseTask(config: RunConfig, data: TrainingData, recipe: SiameseRecipe): TrainingTask {
  const labels = data.train.items.map((it) => it.label);
  const selectionMetric = config.selectBy === 'one-shot' ? 'one_shot_accuracy' : 'template_accuracy';
  return {
    trainMetric: 'pair_accuracy',
    selectionMetric,
    buildModel: () => recipe.buildModel({ size: config.size, width: config.width, fc: config.fc, seed: config.seed }),
    planEpoch: (model, rng) => (recipe.kind === 'batch' ? batchEpoch(model, recipe, config, data, labels, rng) : pairEpochPlan(model, recipe, config, data, labels, rng)),
    async validate(model): Promise<TaskValidation> {
      const v = await siameseValidation(model, recipe, data, runClasses(config), { trials: config.oneShotTrials, oneShotSeed: config.seed ^ 0x0e5a07, pairSeed: config.seed ^ 0x5a1d, batch: config.evalBatch });
      return {
        selection: config.selectBy === 'one-shot' ? v.oneShot : v.template,
        metric: selectionMetric,
        loss: v.loss,
        extra: { val_one_shot_accuracy: v.oneShot, val_template_accuracy: v.template, val_pair_accuracy: v.pairAccuracy },
      };
    },
  };
}

/** Every pair inside a balanced batch of images: B(B−1)/2 pairs for B encoder passes. */
function batchEpoch(model: tf.LayersModel, recipe: BatchRecipe, config: RunConfig, data: TrainingData, labels: readonly ClassName[], rng: Rng): EpochPlan {
  const batches = chunk(balancedEpoch(labels, rng), config.batch).filter((b) => b.length > 1);
  const kept = new Kept();
  const tally = new PairTally();
  let different: readonly number[] = [];
  return {
    steps: batches.length,
    samples: batches.reduce((n, b) => n + (b.length * (b.length - 1)) / 2, 0),
    runStep(i, optimize) {
      const idx = batches[i]!;
      const x = batchTensor(data.train, idx, data.stats);
      const cls = idx.map((j) => classIndex(data.train.items[j]!.label, runClasses(config)));
      const loss = optimize(() =>
        recipe.batchLoss(model, x, cls, (p, d) => {
          kept.keep(p);
          different = d;
        }),
      );
      x.dispose();
      tally.add(kept.take(), different);
      return { loss, samples: (idx.length * (idx.length - 1)) / 2 };
    },
    trainAccuracy: () => tally.value(),
  };
}

/** The recipe's pairs, `--batch` pairs a step, the head's output against same (0) / different (1). */
function pairEpochPlan(model: tf.LayersModel, recipe: PairRecipe, config: RunConfig, data: TrainingData, labels: readonly ClassName[], rng: Rng): EpochPlan {
  const pairs = recipe.pairs(labels, config.pairs, rng);
  const batches = chunk(pairs, config.batch);
  const kept = new Kept();
  const tally = new PairTally();
  return {
    steps: batches.length,
    samples: pairs.length,
    runStep(i, optimize) {
      const ps = batches[i]!;
      const different = ps.map((p) => (p.same ? 0 : 1));
      const xa = batchTensor(data.train, ps.map((p) => p.a), data.stats);
      const xb = batchTensor(data.train, ps.map((p) => p.b), data.stats);
      const y = tf.tensor2d(different, [ps.length, 1]);
      const loss = optimize(() => {
        const p = model.apply([xa, xb], { training: true }) as tf.Tensor;
        kept.keep(p);
        return recipe.headLoss(p, y);
      });
      tf.dispose([xa, xb, y]);
      tally.add(kept.take(), different);
      return { loss, samples: ps.length };
    },
    trainAccuracy: () => tally.value(),
  };
}
