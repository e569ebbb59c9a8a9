/**
 * Trust in a prediction: the out-of-distribution detector (ood.json), calibrated probabilities
 * (calibration.json), ROC curves and operating points. Maths on embeddings and scores only (no
 * model); RunModel (src/run) feeds it, docs/trust.md explains it.
 */
export * from './stats.js';
export * from './gaussian.js';
export * from './detector.js';
export * from './calibration.js';
export * from './roc.js';
export * from './files.js';
export { runTrustOf } from './run-trust.js';
export * from './ood-images.js';
export * from './fields.js';
