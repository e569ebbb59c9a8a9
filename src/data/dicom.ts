/**
 * DICOM pixel data to a gray image in [0, 1], with dicom-parser for the data set and sharp for
 * JPEG-baseline encapsulated frames.
 *
 * Order of operations (DICOM PS3.3 C.11): stored values masked to BitsStored (sign-extended when
 * PixelRepresentation = 1) → modality LUT (RescaleSlope/RescaleIntercept) → VOI: the first
 * WindowCenter/WindowWidth pair when the file has one (the linear function of C.11.2.1.2), else
 * the min/max of the image; 8-bit unsigned data without rescale or window are already display
 * values and map v/255 → MONOCHROME1 inverted (1 − v). Only the first frame is read.
 * Transfer syntaxes: implicit/explicit little endian, explicit big endian, deflated explicit little
 * endian, JPEG baseline.
 */
import dicomParser from 'dicom-parser';
import type { DataSet } from 'dicom-parser';
import { CovidNetError } from '../errors.js';
import { MAX_PIXELS } from './limits.js';

const IMPLICIT_LE = '1.2.840.10008.1.2';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const EXPLICIT_BE = '1.2.840.10008.1.2.2';
const DEFLATED_LE = '1.2.840.10008.1.2.1.99'; // dicom-parser inflates it (zlib) before parsing
const JPEG_BASELINE = '1.2.840.10008.1.2.4.50';

export interface DicomGray {
  width: number;
  height: number;
  data: Float32Array;
  /** The tags that decided the conversion, for `data inspect` and the tests. */
  info: { transferSyntax: string; photometric: string; bitsAllocated: number; bitsStored: number; signed: boolean; window: 'voi' | 'minmax' | 'identity' };
}

/** Decoder of JPEG bytes to one 8-bit channel (injected so this module does not import sharp). */
export type JpegToGray = (jpeg: Uint8Array) => Promise<{ width: number; height: number; data: Uint8Array }>;

function fail(file: string | undefined, msg: string, code: 'E_DECODE' | 'E_FORMAT_UNKNOWN' | 'E_FILE_TRUNCATED' | 'E_TOO_LARGE' = 'E_DECODE'): never {
  throw new CovidNetError(code, msg, file === undefined ? {} : { file });
}

/** A UID or code string from the file for a message: shown only when it looks like one (never free text). */
function shown(v: string, kind: 'uid' | 'cs'): string {
  const ok = kind === 'uid' ? /^[0-9.]{1,64}$/.test(v) : /^[A-Z0-9_ ]{0,16}$/.test(v);
  return ok ? v : kind === 'uid' ? '(not a valid UID)' : '(not a valid code string)';
}

/**
 * A decimal string (DS) tag, strictly: absent → undefined; present but not a finite decimal number
 * (dicom-parser's parseFloat would read "12abc" as 12 and "abc" as NaN) → refused.
 */
function decimal(ds: DataSet, tag: string, name: string, file: string | undefined): number | undefined {
  const el = ds.elements[tag];
  if (!el || el.length === 0) return undefined;
  const raw = (ds.string(tag, 0) ?? '').trim();
  if (raw === '') return undefined;
  const v = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isFinite(v)) fail(file, `${name} is not a finite decimal number${/^[0-9eE+.-]{1,16}$/.test(raw) ? ` (${raw})` : ''}: refused rather than decoded to a wrong image`);
  return v;
}

export function parseDicomDataSet(bytes: Uint8Array, file?: string): DataSet {
  try {
    return dicomParser.parseDicom(bytes);
  } catch (e) {
    // dicom-parser throws strings or objects with an `exception` field
    const msg = typeof e === 'string' ? e : e instanceof Error ? e.message : String((e as { exception?: unknown })?.exception ?? e);
    const truncated = /overrun|overread|beyond end|past end|end of (buffer|stream)/i.test(msg);
    return fail(file, `corrupt DICOM (${msg.replace(/^dicomParser\.\w+: /, '')})`, truncated ? 'E_FILE_TRUNCATED' : 'E_DECODE');
  }
}

export async function decodeDicom(bytes: Uint8Array, jpegToGray: JpegToGray, file?: string): Promise<DicomGray> {
  const ds = parseDicomDataSet(bytes, file);
  const ts = ds.string('x00020010') ?? IMPLICIT_LE;
  const rows = ds.uint16('x00280010');
  const cols = ds.uint16('x00280011');
  if (!rows || !cols) fail(file, 'DICOM without Rows/Columns: not an image');
  if (rows * cols > MAX_PIXELS) fail(file, `image of ${cols}x${rows} pixels is over the ${MAX_PIXELS / 1e6} megapixel limit`, 'E_TOO_LARGE');
  const samples = ds.uint16('x00280002') ?? 1;
  const photometric = (ds.string('x00280004') ?? 'MONOCHROME2').trim().toUpperCase();
  if (samples !== 1 && !(ts === JPEG_BASELINE && samples === 3)) {
    fail(file, `DICOM with ${samples} samples per pixel (${shown(photometric, 'cs')}) is not supported; expected MONOCHROME1/2`, 'E_FORMAT_UNKNOWN');
  }
  if (samples === 1 && photometric !== 'MONOCHROME1' && photometric !== 'MONOCHROME2' && photometric !== '') {
    fail(file, `DICOM PhotometricInterpretation ${shown(photometric, 'cs')} is not supported; expected MONOCHROME1/2`, 'E_FORMAT_UNKNOWN');
  }
  const bitsAllocated = ds.uint16('x00280100') ?? 8;
  const bitsStored = ds.uint16('x00280101') ?? bitsAllocated;
  const pixelRep = ds.uint16('x00280103') ?? 0;
  if (pixelRep !== 0 && pixelRep !== 1) fail(file, `PixelRepresentation ${pixelRep} is invalid (0 unsigned, 1 signed)`);
  const signed = pixelRep === 1;
  // the modality LUT and VOI window, checked before any pixel is read
  const slope = decimal(ds, 'x00281053', 'RescaleSlope', file) ?? 1;
  const intercept = decimal(ds, 'x00281052', 'RescaleIntercept', file) ?? 0;
  if (slope === 0) fail(file, 'RescaleSlope is 0: every pixel would have the same value');
  const center = decimal(ds, 'x00281050', 'WindowCenter', file);
  const width = decimal(ds, 'x00281051', 'WindowWidth', file);
  const pixel = ds.elements['x7fe00010'];
  if (!pixel) fail(file, 'DICOM without pixel data');
  const n = rows * cols;
  let stored: Float64Array;

  if (ts === JPEG_BASELINE) {
    if (!pixel.encapsulatedPixelData) fail(file, 'JPEG transfer syntax but pixel data not encapsulated');
    // baseline JPEG holds 8-bit samples: other bit counts would be mapped as if the values had them
    // (BitsStored 1 made values of 255 out of 1; found by fuzzing)
    if (bitsAllocated !== 8 || bitsStored !== 8) fail(file, `JPEG baseline holds 8-bit samples, but BitsAllocated/BitsStored say ${bitsAllocated}/${bitsStored}`);
    let frame: Uint8Array;
    try {
      const frags = pixel.fragments ?? [];
      const frames = ds.intString('x00280008') ?? 1;
      if ((pixel.basicOffsetTable?.length ?? 0) > 0) frame = dicomParser.readEncapsulatedImageFrame(ds, pixel, 0);
      else if (frames <= 1) frame = dicomParser.readEncapsulatedPixelDataFromFragments(ds, pixel, 0, frags.length);
      else frame = dicomParser.readEncapsulatedImageFrame(ds, pixel, 0, dicomParser.createJPEGBasicOffsetTable(ds, pixel));
    } catch (e) {
      return fail(file, `corrupt encapsulated DICOM pixel data (${e instanceof Error ? e.message : String(e)})`);
    }
    const img = await jpegToGray(frame);
    if (img.width !== cols || img.height !== rows) fail(file, `JPEG frame is ${img.width}x${img.height}, DICOM says ${cols}x${rows}`);
    stored = Float64Array.from(img.data);
  } else if (ts === IMPLICIT_LE || ts === EXPLICIT_LE || ts === EXPLICIT_BE || ts === DEFLATED_LE) {
    if (pixel.encapsulatedPixelData) fail(file, 'uncompressed transfer syntax but encapsulated pixel data');
    if (bitsAllocated !== 8 && bitsAllocated !== 16) fail(file, `BitsAllocated ${bitsAllocated} is not supported (8 or 16)`, 'E_FORMAT_UNKNOWN');
    if (bitsStored < 1 || bitsStored > bitsAllocated) fail(file, `BitsStored ${bitsStored} does not fit BitsAllocated ${bitsAllocated}`);
    const bpp = bitsAllocated / 8;
    const need = n * bpp;
    // offsets refer to the parsed byte array (the inflated one for deflated files)
    const arr = ds.byteArray;
    const avail = Math.min(pixel.length, arr.length - pixel.dataOffset);
    if (avail < need) fail(file, `pixel data has ${Math.max(avail, 0)} bytes, ${cols}x${rows}x${bitsAllocated} bit needs ${need}`, 'E_FILE_TRUNCATED');
    const view = new DataView(arr.buffer, arr.byteOffset + pixel.dataOffset, need);
    const highBit = ds.uint16('x00280102') ?? bitsStored - 1;
    if (highBit < bitsStored - 1 || highBit >= bitsAllocated) fail(file, `HighBit ${highBit} does not fit BitsStored ${bitsStored} and BitsAllocated ${bitsAllocated} (expected ${bitsStored - 1}..${bitsAllocated - 1})`);
    const shift = Math.max(0, highBit + 1 - bitsStored);
    const mask = bitsStored >= 32 ? 0xffffffff : (1 << bitsStored) - 1;
    const signBit = 1 << (bitsStored - 1);
    const le = ts !== EXPLICIT_BE;
    stored = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let v = bpp === 1 ? view.getUint8(i) : view.getUint16(2 * i, le);
      v = (v >> shift) & mask;
      if (signed && v & signBit) v -= 1 << bitsStored;
      stored[i] = v;
    }
  } else {
    return fail(file, `DICOM transfer syntax ${shown(ts, 'uid')} is not supported (uncompressed, deflated and JPEG baseline only)`, 'E_FORMAT_UNKNOWN');
  }

  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    const x = stored[i]!;
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  const rescaled = slope !== 1 || intercept !== 0;
  if (rescaled) {
    for (let i = 0; i < n; i++) stored[i] = stored[i]! * slope + intercept;
    const a = lo * slope + intercept;
    const b = hi * slope + intercept;
    if (!Number.isFinite(a) || !Number.isFinite(b) || !Number.isFinite(b - a)) fail(file, 'RescaleSlope/RescaleIntercept make the pixel values overflow: refused rather than decoded to a black image');
    [lo, hi] = slope > 0 ? [a, b] : [b, a];
  }
  const uniform = lo === hi;
  const out = new Float32Array(n);
  let window: DicomGray['info']['window'];
  if (center !== undefined && width !== undefined && width >= 1) {
    window = 'voi';
    const lo = center - 0.5 - (width - 1) / 2;
    const span = width - 1;
    for (let i = 0; i < n; i++) {
      const x = stored[i]!;
      out[i] = span <= 0 ? (x <= center - 0.5 ? 0 : 1) : Math.min(1, Math.max(0, (x - lo) / span));
    }
  } else if (!rescaled && !signed && bitsStored <= 8) {
    window = 'identity';
    const max = (1 << bitsStored) - 1;
    for (let i = 0; i < n; i++) out[i] = Math.min(1, stored[i]! / max);
  } else {
    window = 'minmax';
    const span = hi - lo;
    for (let i = 0; i < n; i++) out[i] = span > 0 ? (stored[i]! - lo) / span : 0;
  }
  if (!uniform && window === 'voi') {
    // a window outside the data: every pixel black (or white), an image the model would still classify
    const first = out[0]!;
    let same = true;
    for (let i = 1; i < n && same; i++) same = out[i] === first;
    if (same) fail(file, `the VOI window (WindowCenter ${center}, WindowWidth ${width}) maps every pixel to ${first === 0 ? 'black' : first === 1 ? 'white' : 'one value'}: the window does not fit the pixel values (${lo}..${hi})`);
  }
  if (photometric === 'MONOCHROME1') for (let i = 0; i < n; i++) out[i] = 1 - out[i]!;
  return { width: cols, height: rows, data: out, info: { transferSyntax: ts, photometric, bitsAllocated, bitsStored, signed, window } };
}

/** Rows × Columns from the header only, for `data inspect`. */
export function dicomSize(bytes: Uint8Array, file?: string): { width: number; height: number } {
  const ds = parseDicomDataSet(bytes, file);
  const rows = ds.uint16('x00280010');
  const cols = ds.uint16('x00280011');
  if (!rows || !cols) fail(file, 'DICOM without Rows/Columns: not an image');
  return { width: cols, height: rows };
}
