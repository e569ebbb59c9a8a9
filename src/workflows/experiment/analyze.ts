/** Placeholder replaced below in this session. */
export interface ExperimentAnalysis { out: string }
export async function analyzeExperiment(out: string, _o: { backend?: string | undefined; threads?: number | undefined } = {}): Promise<ExperimentAnalysis> {
  return { out };
}
export function formatAnalysis(a: ExperimentAnalysis): string {
  return a.out;
}
