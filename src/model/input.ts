/**
 * Models check their input (as torchxrayvision does): a standardised CXR batch has finite values of
 * a few units; raw 0–255 pixels or [0, 1] images that were never standardised are refused.
 */
import { CovidNetError } from '../errors.js';

/** Largest |value| accepted: standardised images rarely exceed ±10; raw 8-bit pixels reach 255. */
export const MAX_ABS_INPUT = 50;

export function assertModelInput(data: Float32Array, size: number, what = 'model input'): void {
  const per = size * size;
  if (data.length === 0 || data.length % per !== 0) {
    throw new CovidNetError('E_INPUT_RANGE', `${what}: expected a multiple of ${size}×${size} values, got ${data.length}`);
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!Number.isFinite(v)) throw new CovidNetError('E_INPUT_RANGE', `${what}: value ${v} at index ${i} is not finite`);
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (Math.max(-lo, hi) > MAX_ABS_INPUT) {
    throw new CovidNetError(
      'E_INPUT_RANGE',
      `${what}: values in [${lo}, ${hi}] look unstandardised (expected (pixel/255 − mean)/std, |x| ≤ ${MAX_ABS_INPUT})`,
    );
  }
}
