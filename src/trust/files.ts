/**
 * The run folder's trust files: `ood.json` (the out-of-distribution detector) and
 * `calibration.json` (calibrated probabilities), both versioned JSON written atomically. A run
 * trained before they existed has neither: `covidnet ood fit --run RUN` writes both.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CovidNetError } from '../errors.js';
import type { ModelKind } from '../types.js';
import { writeFileAtomic } from '../util/atomic.js';
import { CALIBRATION_FILE, Calibrator, parseCalibrationFile, type CalibrationFile } from './calibration.js';
import { OOD_FILE, OodDetector, parseOodFile, type OodFile } from './detector.js';

/** What a run has of the trust files, and why a missing one is missing. */
export interface RunTrust {
  ood: OodDetector | undefined;
  calibration: Calibrator | undefined;
  /** Why `ood` / `calibration` is undefined (missing file, other version, another run's file). */
  problems: { ood?: CovidNetError; calibration?: CovidNetError };
}

export const REFIT_HINT = 'covidnet ood fit --run RUN';

async function readJson(file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw new CovidNetError('E_RUN', missing ? `${what} is missing (a run trained before it existed: ${REFIT_HINT} writes it)` : `cannot read ${what}`, { file, cause: e });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CovidNetError('E_RUN', `${what} is not valid JSON`, { file, cause: e });
  }
}

/** Read both trust files of a run; a missing or unusable one is undefined, with the reason in `problems`. */
export async function readRunTrust(run: string, model: ModelKind, dim?: number): Promise<RunTrust> {
  const t: RunTrust = { ood: undefined, calibration: undefined, problems: {} };
  try {
    const f = join(run, OOD_FILE);
    t.ood = new OodDetector(parseOodFile(await readJson(f, OOD_FILE), { model, dim }, f));
  } catch (e) {
    if (!(e instanceof CovidNetError)) throw e;
    t.problems.ood = e;
  }
  try {
    const f = join(run, CALIBRATION_FILE);
    t.calibration = new Calibrator(parseCalibrationFile(await readJson(f, CALIBRATION_FILE), model, f));
  } catch (e) {
    if (!(e instanceof CovidNetError)) throw e;
    t.problems.calibration = e;
  }
  return t;
}

export async function writeOodFile(run: string, f: OodFile): Promise<string> {
  const file = join(run, OOD_FILE);
  await writeFileAtomic(file, JSON.stringify(f) + '\n');
  return file;
}

export async function writeCalibrationFile(run: string, f: CalibrationFile): Promise<string> {
  const file = join(run, CALIBRATION_FILE);
  await writeFileAtomic(file, JSON.stringify(f, null, 1) + '\n');
  return file;
}
