/**
 * Data pipeline: sources → decode → preprocess (gray, crop, INTER_AREA) → cache → splits →
 * samplers → model batches; plus the built-in phantom data set.
 */
export type * from './types.js';
export { loadDataset, parseLabel, patientKey, type LoadOptions } from './load.js';
export { splitDataset, assertPatientDisjoint, splitItems, subsamplePerClass, shotSubset, parseShots, selectItems, sourceBase, type SplitOptions, type Splits, type SplitOrigin, type RecordedSplits, type Selection, type SelectionKind } from './split.js';
export { decodeImage, decodeGray, decodeGray8, readImageHeader, sniffFormat, type ImageFormat, type DecodedGray, type DecodeOptions } from './decode.js';
export { MAX_PIXELS, MAX_FILE_BYTES } from './limits.js';
export { cropBox, resizeArea, type CropBox } from './resize.js';
export { preprocessImage, preprocessGray8, validatePreprocessParams, DEFAULT_PREPROCESS } from './preprocess.js';
export { preprocessFile } from './preprocess-file.js';
export { prepareImages, type PrepareOptions, type PrepareStats, type PreparedSetWithSizes } from './prepare.js';
export { defaultCacheDir, CACHE_VERSION } from './cache.js';
export { computeNormStats, toModelInput, imagesToModelInput, imageOf } from './norm.js';
export { balancedEpoch, pairEpoch, oneShotTrials, type Pair, type OneShotTrial } from './samplers.js';
export { augment, DEFAULT_AUGMENT, type AugmentOptions } from './augment.js';
export { writeSynthDataset, type SynthOptions, type SynthResult } from './synth.js';
