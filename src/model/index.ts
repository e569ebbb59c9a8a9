export {
  covidNet,
  covidEncoder,
  siameseCovidNet,
  siameseParts,
  probabilityDifferent,
  logitDifferent,
  disposeModel,
  validateModelConfig,
  STUDY_MODEL,
  CPU_MODEL,
  EMBEDDING_UNITS,
  STAGE_DEPTHS,
  type CovidNetConfig,
} from './covidnet.js';
export { AbsDiff, L2Normalize, registerCustomLayers, type AbsDiffConfig } from './layers.js';
export { assertModelInput, MAX_ABS_INPUT } from './input.js';
export {
  predictRows,
  embedImages,
  pairProbabilityDifferent,
  probabilityDifferentTable,
  meanRow,
  argmax,
  templateSimilarity,
  classTemplates,
  oneShotPredictions,
  oneShotPredictionsWith,
  oneShotFromEmbeddings,
  type ImageEmbedder,
} from './infer.js';
