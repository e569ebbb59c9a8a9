/**
 * A trained run, opened once for inference: config.json, preprocess.json, templates.json
 * (siamese), the backend and the best checkpoint. Predict, evaluate, explain, serve and the
 * report's Grad-CAM go through it, so every model input is built (and checked) one way and class
 * scores mean one thing per kind of run.
 *
 *   const rm = await RunModel.open('runs/siamese');
 *   const { kind, rows } = await rm.scoreImages(images);   // 'template-similarity', one row per image
 *   const a = await rm.assessImages(images);               // + calibrated probabilities, OOD verdicts
 *   rm.dispose();
 *
 * `assessImages` adds what the run's trust files give (src/trust): calibrated probabilities
 * (calibration.json) and the out-of-distribution verdict (ood.json) per image; the raw scores in
 * it are those of `scoreImages`, from the same forward pass as the embeddings.
 *
 * On the onednn backend every forward runs the model's compiled native plan (src/backend/plan.ts,
 * docs/performance.md); `COVIDNET_PLAN=0` keeps TF.js's path.
 */
import * as tf from '../tf.js';
import { CovidNetError } from '../errors.js';
import { initBackend, type BackendChoice } from '../backend/index.js';
import { PlanRunner } from '../backend/plan.js';
import { disposeModel } from '../model/covidnet.js';
import { readRunTrust } from '../trust/files.js';
import { readPreprocess, readRunConfig, readTemplates, type TemplatesFile } from './files.js';
import { loadRunModel } from './load.js';
import { checkModel, embeddingDim, RunScorer, templatesOf, type RunModelOptions } from './scorer.js';

export * from './scorer.js';

/** A run opened from its folder: `RunScorer` with the files read and the backend chosen here. */
export class RunModel extends RunScorer {
  static async open(run: string, opts: RunModelOptions = {}): Promise<RunModel> {
    const config = await readRunConfig(run);
    const preprocess = await readPreprocess(run);
    if (config.model !== preprocess.model) {
      throw new CovidNetError('E_RUN', `config.json says ${config.model} but preprocess.json says ${preprocess.model}`, { file: run });
    }
    let templatesJson: TemplatesFile | CovidNetError | undefined;
    if (preprocess.model === 'siamese') {
      // read now, required only by what needs them (one-shot evaluation does not)
      try {
        templatesJson = await readTemplates(run);
      } catch (e) {
        if (!(e instanceof CovidNetError)) throw e;
        templatesJson = e;
      }
    }
    const { templates, templatesError } = templatesOf({ run, preprocess, templatesJson });
    const backend: BackendChoice = opts.keepBackend
      ? { name: tf.getBackend(), fast: tf.getBackend() === 'onednn', reason: `backend ${tf.getBackend()} (kept)`, failures: [] }
      : await initBackend({ backend: opts.backend, purpose: opts.purpose ?? 'infer', threads: opts.threads });
    const model = await loadRunModel(run, { inference: true });
    let trust;
    try {
      checkModel(model, preprocess, run);
      trust = await readRunTrust(run, preprocess.model, embeddingDim(model, preprocess.model));
    } catch (e) {
      disposeModel(model);
      throw e;
    }
    // the compiled native plan on onednn (model.predict elsewhere, or for a layer it lacks)
    return new RunModel(run, config, preprocess, templates, templatesError, backend, model, trust, new PlanRunner());
  }
}
