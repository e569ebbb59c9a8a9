/**
 * A run's trust files as objects, from their parsed JSON: the pure part of ./files.ts, shared
 * with the browser app (src/web), which fetches the same files instead of reading them.
 */
import { CovidNetError } from '../errors.js';
import type { ModelKind } from '../types.js';
import { Calibrator, parseCalibrationFile } from './calibration.js';
import { OodDetector, parseOodFile } from './detector.js';

/** What a run has of the trust files, and why a missing one is missing. */
export interface RunTrust {
  ood: OodDetector | undefined;
  calibration: Calibrator | undefined;
  /** Why `ood` / `calibration` is undefined (missing file, other version, another run's file). */
  problems: { ood?: CovidNetError; calibration?: CovidNetError };
}

/**
 * The detector and the calibrator from the files' JSON; a file that could not be read is passed as
 * the CovidNetError saying why, and ends up in `problems` like one that does not parse.
 */
export function runTrustOf(json: { ood: unknown; calibration: unknown }, model: ModelKind, dim?: number, files: { ood?: string; calibration?: string } = {}): RunTrust {
  const t: RunTrust = { ood: undefined, calibration: undefined, problems: {} };
  try {
    if (json.ood instanceof CovidNetError) throw json.ood;
    t.ood = new OodDetector(parseOodFile(json.ood, { model, dim }, files.ood));
  } catch (e) {
    if (!(e instanceof CovidNetError)) throw e;
    t.problems.ood = e;
  }
  try {
    if (json.calibration instanceof CovidNetError) throw json.calibration;
    t.calibration = new Calibrator(parseCalibrationFile(json.calibration, model, files.calibration));
  } catch (e) {
    if (!(e instanceof CovidNetError)) throw e;
    t.problems.calibration = e;
  }
  return t;
}
