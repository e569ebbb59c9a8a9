/**
 * One error type for everything the library refuses, with a stable `code` that scripts can test
 * (as sharp and Node do) and, where it applies, the file it concerns.
 */
export type ErrorCode =
  | 'E_OPTION' // a bad option value: names the parameter, the expected and the actual value
  | 'E_FILE_MISSING'
  | 'E_FILE_EMPTY'
  | 'E_FILE_TRUNCATED'
  | 'E_FORMAT_UNKNOWN'
  | 'E_DECODE'
  | 'E_TOO_LARGE'
  | 'E_LABEL'
  | 'E_DUPLICATE'
  | 'E_MANIFEST'
  | 'E_SOURCE'
  | 'E_PATIENT_OVERLAP'
  | 'E_INPUT_RANGE'
  | 'E_RUN'
  | 'E_DIVERGED' // training reached a non-finite loss
  | 'E_MODEL_INVALID' // a model with non-finite weights or outputs
  | 'E_BACKEND'
  | 'E_NATIVE_UNAVAILABLE'
  | 'E_NATIVE_ARG' // a native entry point refused its arguments (function, parameter, expected, actual)
  | 'E_NATIVE_ONEDNN' // oneDNN reported an error
  | 'E_NATIVE_MEMORY' // a native allocation failed
  | 'E_PLAN_INPUT' // a compiled plan was given a wrong input (shape, dtype, backend)
  | 'E_PLAN_DISPOSED' // a compiled plan was used after dispose()
  | 'E_QUEUE' // the job queue: Redis unreachable, a job this worker refuses (other code version or data), a bad payload
  | 'E_INTERNAL';

export class CovidNetError extends Error {
  readonly code: ErrorCode;
  readonly file?: string;
  /** The message without the file name, for lists that already show the file. */
  readonly reason: string;
  constructor(code: ErrorCode, message: string, opts: { file?: string; cause?: unknown } = {}) {
    super(opts.file ? `${opts.file}: ${message}` : message, { cause: opts.cause });
    this.name = 'CovidNetError';
    this.code = code;
    this.reason = message;
    if (opts.file !== undefined) this.file = opts.file;
  }
}

/** Option errors name the parameter, the expected and the actual value. */
export function optionError(name: string, expected: string, actual: unknown): CovidNetError {
  return new CovidNetError('E_OPTION', `invalid option ${name}: expected ${expected}, got ${JSON.stringify(actual)}`);
}

export function isCovidNetError(e: unknown): e is CovidNetError {
  return e instanceof CovidNetError;
}
