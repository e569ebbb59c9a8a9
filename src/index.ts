/**
 * Library API. Everything the CLI does is available here to TypeScript users.
 * Importing this module has no side effects beyond loading TensorFlow.js.
 */
export * from './types.js';
export * from './errors.js';
export * from './util/rng.js';
export * from './data/index.js';
export * from './backend/index.js';
export * from './model/index.js';
export { parseRunConfig, pickRunOptions, RunConfigSchema, RUN_OPTIONS, RUN_OPTION_KEYS, FIXED_ON_RESUME, STUDY_DEFAULTS, MAX_THREADS, type RunConfig, type RunConfigInput, type RunOptionKey, type OptionMeta } from './config.js';
export { train, trainingTask, type TrainEvent, type TrainOptions, type TrainResult } from './train/train.js';
export { computeTemplates, oneShotAccuracy, singleAccuracy, singleValidation, siamesePairValidation, siameseValidation, VAL_PAIRS, type SiameseValidation } from './train/validation.js';
export type { TrainingTask, EpochPlan, TaskValidation } from './train/task.js';
export { prepareTrainingData, type TrainingData } from './train/data.js';
export { registerRecipe, getRecipe, recipeNames, STUDY_RECIPE, binaryCrossEntropy, type SiameseRecipe, type PairRecipe, type BatchRecipe, type PairObserver } from './train/recipes.js';
export { searchGrid, searchSpec, collectSearch, STUDY_GRID, type SearchCell, type SearchResult, type SearchOptions } from './workflows/search.js';
export { evaluateRun, type EvalResult, type EvaluateOptions, type Prediction } from './evaluate/evaluate.js';
export { computeMetrics, wilson, bootstrapF1, isBootstrapInterval, F1_BOOTSTRAP_REPLICATES, type Metrics, type MetricsOptions, type ClassMetrics, type Interval, type BootstrapInterval } from './evaluate/metrics.js';
export { formatEval, formatMetrics, formatTrust, formatBreakdown, formatAudit } from './evaluate/format.js';
export { breakdown, groupValue, checkGroupColumn, sourceClassCounts, sourceOnlyPredictions, minorityOfSource, type GroupRow, type GroupedOutcome, type SourceClassCounts } from './evaluate/breakdown.js';
export { seedSummary, pairedBootstrap, mcnemarExact, mcnemarP, balancedAccuracy, tQuantile975, type SeedSummary, type PairedPredictions, type PairedDifference, type McNemar } from './evaluate/stats.js';
export { linearProbe, fitLogistic, predictLogistic, type ProbeResult, type ProbeOptions } from './evaluate/probe.js';
export { auditRun, type AuditOptions, type AuditResult } from './evaluate/audit.js';
export { summariseExperiment, type CellResult, type CellPrediction, type ConfigSummary, type SourceSummary, type AuditSummary, type PairComparison, type ExperimentStats } from './evaluate/experiment.js';
export { trustSummary, evaluateOod, listOodImages, scoreOf, type EvalTrust, type OodAcceptance, type CalibrationSummary, type RocSummary, type OperatingPointResult, type OodEvaluation, type OodKindResult, type OodImage, type OodScoreName, type TrustEvalOptions, type OodEvalOptions } from './evaluate/trust.js';
export * from './trust/index.js';
export { predictFiles, type FilePrediction, type PredictResult, type PredictOptions, type TrustFields } from './predict/predict.js';
export { fileSystemIO, saveModel, loadRunModel, readRunConfig, readPreprocess, readSplits, readTemplates, readHistory, RUN_FILES, RunModel, fitRunTrust } from './run/index.js';
export type { RunModelOptions, RunImages, ClassScores, ScoreKind, ImageFeatures, ImageAssessment, Assessment, FitTrustOptions, FitTrustResult } from './run/index.js';
export type { SavedConfig, PreprocessInfo, SplitsFile, TemplatesFile, EpochRecord } from './run/index.js';
export * from './explain/index.js';
export * from './report/index.js';
export * from './serve/index.js';
export * from './workflows/index.js';
