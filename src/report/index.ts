export { writeRunReport, writeComparisonReport, readEvals, metricTable, dataUri, figureImg, page, type RunReport, type RunReportOptions, type ComparisonOptions, type EvalFile } from './report.js';
export { renderSpec, trainingCurvesSpec, confusionSpec, metricsSpec, barsSpec, learningCurveSpec, forestSpec, seedDotsSpec } from './figures.js';
export { writeExperimentReport, type ExperimentReportInput } from './experiment.js';
export { refreshRunReport, refreshReports, refreshLine, type RefreshResult } from './refresh.js';
