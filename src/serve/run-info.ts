/** What the page and `GET /api/info` know about the served run (its own module: page and server both use it). */
import { basename } from 'node:path';
import { RESEARCH_NOTICE, type ClassName, type ModelKind } from '../types.js';
import type { RunModel, ScoreKind } from '../run/run-model.js';

export interface RunInfo {
  /** The run folder's name (no path: the page is not told where files live). */
  run: string;
  model: ModelKind;
  size: number;
  crop: number;
  classes: readonly ClassName[];
  scores: ScoreKind;
  notice: string;
}

export function runInfo(rm: RunModel): RunInfo {
  return {
    run: basename(rm.run.replace(/[/\\]+$/, '')),
    model: rm.kind,
    size: rm.preprocess.size,
    crop: rm.preprocess.crop,
    classes: rm.classes,
    scores: rm.scoreKind,
    notice: RESEARCH_NOTICE,
  };
}
