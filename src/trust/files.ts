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
import { CALIBRATION_FILE, type CalibrationFile } from './calibration.js';
import { OOD_FILE, type OodFile } from './detector.js';
import { runTrustOf, type RunTrust } from './run-trust.js';

export type { RunTrust };

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
  const read = async (name: string): Promise<unknown> => {
    const f = join(run, name);
    try {
      return await readJson(f, name);
    } catch (e) {
      if (!(e instanceof CovidNetError)) throw e;
      return e;
    }
  };
  return runTrustOf({ ood: await read(OOD_FILE), calibration: await read(CALIBRATION_FILE) }, model, dim, { ood: join(run, OOD_FILE), calibration: join(run, CALIBRATION_FILE) });
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
