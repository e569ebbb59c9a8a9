/** Workflows that combine training, evaluation, Grad-CAM and reports: the demo, the crop experiment, siamese diagnostics. */
export { runDemo, DEMO_PLANS, type DemoOptions, type DemoResult, type DemoPlan } from './demo.js';
export { cropExperiment, type CropExperimentOptions, type CropExperimentResult, type ArmResult, type CropTrainOptions, type ExperimentEvent } from './crop.js';
export { probeSiamese, diagnoseRecipe, type ProbeStats } from './diagnose.js';
export { diagnosticFigures } from './diagnose-plots.js';
export { runBench, validateBenchOptions, BENCH_DEFAULTS, type BenchOptions, type BenchResult, type BenchModel } from './bench.js';
