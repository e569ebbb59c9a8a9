/** Heat maps for both nets (insertion, occlusion, Grad-CAM) on the original image, border mass, the deletion check. */
export { GradCam, FEATURE_LAYER, layerChain, type CamOptions, type CamResult } from './gradcam.js';
export { HEAT_METHODS, HEAT_SCORES, DEFAULT_HEAT_METHOD, HEAT_METHOD_LABEL, defaultHeatScore, PERTURBATION_BASELINES, DEFAULT_PERTURBATION_BASELINE, type HeatMethod, type HeatScore, type PerturbationBaseline } from './methods.js';
export { perturbationMaps, patchBox, gaussianBlur, type PerturbationOptions, type PerturbationMap, type PerturbationMethod, type MarginPair, type LogitFn } from './perturbation.js';
export { deletionCurve, summariseFaithfulness, area as deletionArea, type DeletionOptions, type DeletionResult, type DeletionMap, type FaithfulnessSummary, type ScoreFn } from './faithfulness.js';
export { makeGeometry, inputToOriginal, originalToInput, cellCentre, resampleToOriginal, resampleToInput, FEATURE_STRIDE, type Box, type CamGeometry } from './geometry.js';
export { camPeak, borderMass, DEFAULT_BORDER_BAND } from './stats.js';
export { colormapTable, COLORMAPS, type ColormapName } from './colormap.js';
export { renderOverlay, heatmapPng16, contactSheet, displaySize, type OverlayOptions, type SheetTile } from './render.js';
export {
  Explainer,
  explainRun,
  selectExplainItems,
  summariseBorderMass,
  overlayPng,
  captionFor,
  jsonLine,
  isExplained,
  isOutOfDistribution,
  type Explained,
  type ExplainFailure,
  type ExplainerOptions,
  type ImageSource,
  type CamRequest,
  type ExplainRunOptions,
  type ExplainRunResult,
  type ExplainRecord,
  type BorderSummary,
  type GroupStats,
} from './explain.js';
