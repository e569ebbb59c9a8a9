/** What the page and `GET /api/info` know about the served run (its own module: page and server both use it). */
import { basename } from 'node:path';
import { RESEARCH_NOTICE } from '../types.js';
import type { RunModel } from '../run/run-model.js';
import type { RunInfo } from '../web/site-info.js';

export type { RunInfo };

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
