/**
 * Refreshing a run's report at the end of train / evaluate / demo: never fails the command that
 * calls it (a report is a by-product), it says why instead.
 */
import { writeComparisonReport, writeRunReport, type RunReportOptions } from './report.js';

export type RefreshResult = { ok: true; html: string } | { ok: false; error: string };

export async function refreshRunReport(run: string, opts: RunReportOptions = {}): Promise<RefreshResult> {
  try {
    return { ok: true, html: (await writeRunReport(run, opts)).html };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}

/** Reports of several runs plus their comparison page in `out`; the comparison page's path. */
export async function refreshReports(runs: readonly string[], out: string, opts: RunReportOptions = {}): Promise<RefreshResult> {
  for (const r of runs) {
    const one = await refreshRunReport(r, opts);
    if (!one.ok) return one;
  }
  try {
    return { ok: true, html: (await writeComparisonReport(runs, { out })).html };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}

/** One line for the console. */
export function refreshLine(r: RefreshResult): string {
  return r.ok ? `report: ${r.html}` : `report not written: ${r.error}`;
}
