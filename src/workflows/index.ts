/** Workflows that combine training, evaluation, Grad-CAM and reports: the demo, experiments (compare, scarcity, crop), siamese diagnostics. */
export { runDemo, DEMO_PLANS, type DemoOptions, type DemoResult, type DemoPlan } from './demo.js';
export { cropExperiment, type CropExperimentOptions, type CropExperimentResult, type ArmResult, type CropTrainOptions, type ExperimentEvent } from './crop.js';
export { probeSiamese, diagnoseRecipe, type ProbeStats } from './diagnose.js';
export { diagnosticFigures } from './diagnose-plots.js';
export { runBench, validateBenchOptions, BENCH_DEFAULTS, type BenchOptions, type BenchResult, type BenchModel } from './bench.js';
export { expandGrid, compareNets, parseSeeds, parsePerClass, type GridSpec, type CellSpec, type NetSpec, type ExperimentKind, type SharedTrainOptions } from './experiment/grid.js';
export { runCell, cellDir, readCellRecord, readCellEval, type CellRecord, type CellOutcome, type CellRuntime, type CellStatus } from './experiment/cell.js';
export { runExperiment, listCells, readExperimentFile, writeExperimentFile, EXPERIMENT_FILE, type ExperimentFile, type RunnerEvent, type RunExperimentOptions, type CellListing } from './experiment/runner.js';
export { analyzeExperiment, formatAnalysis, ANALYSIS_FILE, type ExperimentAnalysis } from './experiment/analyze.js';
export { searchGrid, searchSpec, collectSearch, formatSearch, SEARCH_FILE, type SearchCell, type SearchResult, type SearchOptions } from './search.js';
