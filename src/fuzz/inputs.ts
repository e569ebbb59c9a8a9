/**
 * Generated inputs for the fuzz targets: structure-aware generators (PNG chunk lists with their
 * own row filters and zlib streams, DICOM data sets with any header values, manifests with
 * awkward whitespace and quoting) and byte-level mutations of a corpus of generated files (and of
 * a few real cxr-mini files when ../shared/data/cxr-mini is there). Everything is made at start
 * from fixed seeds: nothing is stored in the repository.
 */
import { deflateSync } from 'node:zlib';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import sharp from 'sharp';
import { makeDicom, pngChunk, testPattern, type DicomSpec } from '../data/testing.js';

// ---------------------------------------------------------------- byte mutations

export type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'word'; at: number; value: number; width: 2 | 4 }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; len: number }
  | { kind: 'copy'; from: number; at: number; len: number }
  | { kind: 'truncate'; at: number };

const INTERESTING = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('word' as const), at: fc.nat(), value: fc.constantFrom(...INTERESTING), width: fc.constantFrom(2 as const, 4 as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 32 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 256 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('copy' as const), from: fc.nat(), at: fc.nat(), len: fc.integer({ min: 1, max: 256 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
);

export function mutate(src: Uint8Array, ms: readonly Mutation[]): Buffer {
  let b = Buffer.from(src);
  for (const m of ms) {
    const n = b.length;
    if (n === 0) break;
    const at = m.at % n;
    switch (m.kind) {
      case 'flip':
        b[at] = b[at]! ^ (1 << m.bit);
        break;
      case 'set':
        b[at] = m.value;
        break;
      case 'word':
        for (let k = 0; k < m.width && at + k < n; k++) b[at + k] = (m.value >>> (8 * (m.width - 1 - k))) & 255; // big endian
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(n, at + m.len))]);
        break;
      case 'copy': {
        const from = m.from % n;
        b.copy(b, at, from, Math.min(n, from + m.len));
        break;
      }
      case 'truncate':
        b = b.subarray(0, at);
        break;
    }
  }
  return b;
}

/** A corpus file, mutated by a few byte edits (sometimes none). */
export function mutatedArb(corpus: readonly Buffer[], maxMutations = 6): fc.Arbitrary<Buffer> {
  return fc.tuple(fc.integer({ min: 0, max: corpus.length - 1 }), fc.array(mutationArb, { maxLength: maxMutations })).map(([i, ms]) => mutate(corpus[i]!, ms));
}

// ---------------------------------------------------------------- PNG

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Recompute every chunk's CRC (after mutations), as far as the chunk walk goes. */
export function fixPngCrcs(b: Buffer): Buffer {
  const out = Buffer.from(b);
  let p = 8;
  while (p + 12 <= out.length) {
    const len = out.readUInt32BE(p);
    if (len > out.length - p - 12) break;
    out.writeUInt32BE(crc32(out.subarray(p + 4, p + 8 + len)), p + 8 + len);
    p += 12 + len;
  }
  return out;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) c = CRC_TABLE[(c ^ x) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export interface PngSpec {
  width: number;
  height: number;
  colorType: number;
  bitDepth: number;
  interlace: number;
  /** One filter byte per row (5+ are invalid). */
  filters: number[];
  /** Filtered row data (the bytes after each filter byte), generated. */
  seed: number;
  /** Extra chunks before IDAT. */
  extra: { type: string; data: Uint8Array }[];
  idatParts: number;
  /** Extra/missing bytes in the inflated stream. */
  lengthDelta: number;
  trailing: Uint8Array;
  noIend: boolean;
}

const CHUNK_TYPES = ['tEXt', 'zTXt', 'iTXt', 'pHYs', 'gAMA', 'iCCP', 'sRGB', 'eXIf', 'PLTE', 'tRNS', 'bKGD', 'sBIT', 'prVt', 'IHDR', 'IEND', 'acTL', 'IDAT'];

const HARMLESS_TYPES = ['tEXt', 'zTXt', 'iTXt', 'pHYs', 'gAMA', 'sRGB', 'bKGD', 'sBIT', 'tIME', 'cHRM'];

/** Half valid PNGs of every kind the fast path takes or leaves, half with wild header values. */
export const pngSpecArb: fc.Arbitrary<PngSpec> = fc.oneof(
  fc
    .record({
      width: fc.integer({ min: 1, max: 48 }),
      height: fc.integer({ min: 1, max: 48 }),
      kind: fc.constantFrom([0, 8], [2, 8], [4, 8], [6, 8], [0, 8], [2, 8], [6, 16], [0, 16], [3, 8], [0, 1], [0, 4], [3, 2]),
      interlace: fc.constantFrom(0, 0, 0, 0, 1),
      filterSeed: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 48 }),
      seed: fc.nat(),
      extra: fc.array(fc.record({ type: fc.constantFrom(...HARMLESS_TYPES), data: fc.uint8Array({ maxLength: 24 }) }), { maxLength: 2 }),
      idatParts: fc.integer({ min: 1, max: 3 }),
    })
    .map((r) => ({ ...r, colorType: r.kind[0]!, bitDepth: r.kind[1]!, lengthDelta: 0, trailing: new Uint8Array(0), noIend: false })),
  fc.record({
    width: fc.integer({ min: 0, max: 40 }),
    height: fc.integer({ min: 0, max: 40 }),
    colorType: fc.constantFrom(0, 2, 3, 4, 6, 1, 5, 7, 255),
    bitDepth: fc.constantFrom(8, 16, 1, 2, 4, 3, 0, 32),
    interlace: fc.constantFrom(0, 1, 2),
    filterSeed: fc.array(fc.constantFrom(0, 1, 2, 3, 4, 5, 255), { minLength: 1, maxLength: 41 }),
    seed: fc.nat(),
    extra: fc.array(fc.record({ type: fc.constantFrom(...CHUNK_TYPES), data: fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.constantFrom(Buffer.from('Exif\0MM\0*'), Buffer.from('XML:com.adobe.xmp\0'), Buffer.from('Raw profile type exif\0'))) }), { maxLength: 3 }),
    idatParts: fc.integer({ min: 1, max: 4 }),
    lengthDelta: fc.constantFrom(0, 0, -1, 1, -7, 13),
    trailing: fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ maxLength: 16 })),
    noIend: fc.integer({ min: 0, max: 9 }).map((v) => v === 0),
  }),
).map((r) => ({ ...r, filters: Array.from({ length: Math.max(r.height, 1) }, (_, y) => r.filterSeed[y % r.filterSeed.length]!) }));

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

export function buildPng(s: PngSpec): Buffer {
  const ch = CHANNELS[s.colorType] ?? 1;
  const bpp = (ch * s.bitDepth) / 8;
  const stride = Math.ceil(s.width * bpp);
  const pattern = testPattern(Math.max(stride, 1), Math.max(s.height, 1), s.seed);
  const rows = Buffer.alloc(Math.max(0, s.height * (stride + 1) + s.lengthDelta));
  for (let y = 0; y < s.height; y++) {
    const o = y * (stride + 1);
    if (o < rows.length) rows[o] = s.filters[y]!;
    for (let i = 0; i < stride && o + 1 + i < rows.length; i++) rows[o + 1 + i] = pattern[y * stride + i]!;
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(s.width, 0);
  ihdr.writeUInt32BE(s.height, 4);
  ihdr[8] = s.bitDepth;
  ihdr[9] = s.colorType;
  ihdr[12] = s.interlace;
  const z = deflateSync(rows);
  const parts: Buffer[] = [];
  const step = Math.max(1, Math.ceil(z.length / s.idatParts));
  for (let o = 0; o < z.length; o += step) parts.push(pngChunk('IDAT', z.subarray(o, o + step)));
  const entries = s.bitDepth >= 1 && s.bitDepth <= 8 ? 2 ** s.bitDepth : 256;
  const plte = s.colorType === 3 ? [pngChunk('PLTE', Buffer.from(Array.from({ length: 3 * entries }, (_, i) => (i * 37) & 255)))] : [];
  return Buffer.concat([
    PNG_SIGNATURE,
    pngChunk('IHDR', ihdr),
    ...plte,
    ...s.extra.map((c) => pngChunk(c.type, c.data)),
    ...parts,
    ...(s.noIend ? [] : [pngChunk('IEND', Buffer.alloc(0))]),
    Buffer.from(s.trailing),
  ]);
}

/** Generated PNGs, sometimes mutated (then, mostly, with their CRCs made right again to get past the chunk walk). */
export const pngArb: fc.Arbitrary<Buffer> = fc
  .tuple(pngSpecArb, fc.array(mutationArb, { maxLength: 4 }), fc.integer({ min: 0, max: 9 }))
  .map(([spec, ms, r]) => {
    const png = buildPng(spec);
    if (ms.length === 0 || r < 5) return png;
    const m = mutate(png, ms);
    return r < 8 ? fixPngCrcs(m) : m;
  });

// ---------------------------------------------------------------- DICOM

const DS_VALUES = ['1', '0.5', '-1024', '2.5e-3', 'abc', '12abc', '1e308', '-1e308', 'NaN', 'Infinity', '', ' ', '0', '-0', '1\\2', '+.5', '.', '1e999', '65535'];

export const dicomSpecArb: fc.Arbitrary<DicomSpec> = fc
  .record({
    width: fc.integer({ min: 1, max: 24 }),
    height: fc.integer({ min: 1, max: 24 }),
    bitsAllocated: fc.constantFrom(8 as const, 16 as const),
    bitsStored: fc.option(fc.integer({ min: 0, max: 33 }), { nil: undefined, freq: 2 }),
    highBit: fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined, freq: 3 }),
    signed: fc.boolean(),
    pixelRepresentation: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined, freq: 6 }),
    photometric: fc.constantFrom('MONOCHROME1', 'MONOCHROME2', 'MONOCHROME2', 'MONOCHROME2', 'MONOCHROME1', 'MONOCHROME2', 'RGB', 'PALETTE COLOR', '', 'YBR_FULL'),
    slope: fc.option(fc.oneof(fc.constantFrom(...DS_VALUES), fc.double({ noNaN: false })), { nil: undefined, freq: 2 }),
    intercept: fc.option(fc.oneof(fc.constantFrom(...DS_VALUES), fc.integer({ min: -5000, max: 5000 })), { nil: undefined, freq: 2 }),
    window: fc.option(fc.record({ center: fc.oneof(fc.constantFrom(...DS_VALUES), fc.integer({ min: -2000, max: 70000 })), width: fc.oneof(fc.constantFrom(...DS_VALUES), fc.integer({ min: -10, max: 70000 })) }), { nil: undefined }),
    values: fc.uint16Array({ minLength: 0, maxLength: 600 }),
    samplesPerPixel: fc.constantFrom(1, 1, 1, 1, 1, 1, 1, 3, 0, 2),
    deflate: fc.integer({ min: 0, max: 4 }).map((v) => v === 0),
    bigEndian: fc.integer({ min: 0, max: 4 }).map((v) => v === 0),
  })
  .map((r) => {
    const n = r.width * r.height;
    const values = Array.from({ length: n }, (_, i) => r.values.length ? r.values[i % r.values.length]! : i);
    const spec: DicomSpec = { ...r, values } as DicomSpec;
    return spec;
  });

/** JPEG frames to encapsulate, with their sizes (a DICOM that says another size is refused). */
export interface JpegFrame {
  data: Buffer;
  width: number;
  height: number;
}

export async function jpegFrames(jpegs: readonly Buffer[]): Promise<JpegFrame[]> {
  const out: JpegFrame[] = [];
  for (const data of jpegs) {
    const m = await sharp(data).metadata();
    out.push({ data, width: m.width ?? 0, height: m.height ?? 0 });
  }
  return out;
}

export function dicomArb(jpegs: readonly JpegFrame[], corpus: readonly Buffer[]): fc.Arbitrary<Buffer> {
  const generated = fc.tuple(dicomSpecArb, fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: Math.max(0, jpegs.length - 1) }), fc.boolean()).map(([spec, jpeg, j, sameSize]) => {
    try {
      const f = jpegs[j];
      // a quarter JPEG baseline, mostly with the frame's own size
      return makeDicom(jpeg === 0 && f ? { ...spec, jpeg: f.data, bitsAllocated: 8, ...(sameSize ? { width: f.width, height: f.height } : {}) } : spec);
    } catch {
      // the writer cannot make this one (e.g. a value out of its range): an empty DICOM
      return makeDicom({ width: 1, height: 1 });
    }
  });
  return fc.oneof(
    { weight: 3, arbitrary: generated },
    { weight: 3, arbitrary: fc.tuple(generated, fc.array(mutationArb, { minLength: 1, maxLength: 6 })).map(([d, ms]) => mutate(d, ms)) },
    { weight: 2, arbitrary: mutatedArb(corpus) },
  );
}

// ---------------------------------------------------------------- JPEG and the corpus

/** JPEGs made with sharp: gray and colour, subsampling, progressive, restart markers, EXIF rotation, CMYK. */
export async function jpegCorpus(): Promise<Buffer[]> {
  const out: Buffer[] = [];
  const sizes: [number, number][] = [[1, 1], [7, 5], [16, 16], [33, 17], [64, 48], [9, 120]];
  for (const [k, [w, h]] of sizes.entries()) {
    const gray = testPattern(w, h, k);
    const rgb = Buffer.alloc(w * h * 3);
    for (let i = 0; i < w * h; i++) {
      rgb[3 * i] = gray[i]!;
      rgb[3 * i + 1] = (gray[i]! * 7 + i) & 255;
      rgb[3 * i + 2] = (i * 13) & 255;
    }
    const g = sharp(Buffer.from(gray), { raw: { width: w, height: h, channels: 1 } });
    const c = (): sharp.Sharp => sharp(rgb, { raw: { width: w, height: h, channels: 3 } });
    out.push(await g.clone().jpeg({ quality: 80 }).toBuffer());
    out.push(await c().jpeg({ quality: 90, chromaSubsampling: '4:2:0' }).toBuffer());
    out.push(await c().jpeg({ quality: 70, chromaSubsampling: '4:4:4', progressive: true }).toBuffer());
    out.push(await c().jpeg({ quality: 60, optimiseCoding: false }).withMetadata({ orientation: 1 + (k % 8) }).toBuffer());
    out.push(await c().toColourspace('cmyk').jpeg({ quality: 85 }).toBuffer());
  }
  return out;
}

export async function pngCorpus(): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (const [k, [w, h, ch]] of ([[1, 1, 1], [17, 9, 1], [32, 32, 3], [20, 11, 4], [5, 40, 2]] as const).entries()) {
    const raw = Buffer.from(testPattern(w * ch, h, k));
    out.push(await sharp(raw, { raw: { width: w, height: h, channels: ch } }).png().toBuffer());
    out.push(await sharp(raw, { raw: { width: w, height: h, channels: ch } }).png({ progressive: true }).toBuffer());
  }
  out.push(await sharp(Buffer.from(testPattern(30, 20, 9)), { raw: { width: 10, height: 20, channels: 3 } }).png({ palette: true }).toBuffer());
  out.push(await sharp(Buffer.from(new Uint16Array(12 * 8).map((_, i) => i * 500).buffer), { raw: { width: 12, height: 8, channels: 1 } }).toColourspace('grey16').png().toBuffer());
  return out;
}

/** A few of the smallest real files of cxr-mini, when it is there (read, never copied). */
export function realCorpus(ext: RegExp, count: number, maxBytes = 200_000): Buffer[] {
  const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../shared/data/cxr-mini');
  try {
    const files = readdirSync(root, { recursive: true })
      .map((f) => path.join(root, String(f)))
      .filter((f) => ext.test(f) && statSync(f).isFile() && statSync(f).size <= maxBytes)
      .sort((a, b) => statSync(a).size - statSync(b).size);
    return files.slice(0, count).map((f) => readFileSync(f));
  } catch {
    return [];
  }
}

// ---------------------------------------------------------------- manifests

const LABELS = ['normal', 'pneumonia', 'COVID-19', 'covid', 'COVID 19', 'positive', 'negative', 'Lung_Opacity', 'NORMAL', '', 'x'];
const NAMES = ['a.png', 'b c.png', 'two  spaces.jpg', 'd.dcm', 'ünï.png', 'e\tf.png', '../up.png', '/abs.png', 'missing.png', 'normal', 'COVID-19'];

/** Text that looks like COVIDx split files: fields, spaces, tabs, CR, comments, junk. */
export const covidxTextArb: fc.Arbitrary<string> = fc
  .array(
    fc.oneof(
      { weight: 5, arbitrary: fc.tuple(fc.constantFrom('p1', 'John Doe', '12', ''), fc.constantFrom(...NAMES), fc.constantFrom(...LABELS), fc.constantFrom('rsna', 'cohen', 'actmed pneumonia', '', 'sirm')).map((f) => f.join(' ')) },
      { weight: 2, arbitrary: fc.tuple(fc.array(fc.oneof(fc.constantFrom(...LABELS, ...NAMES, ' ', '\t', '  ', '#', '\r', '\u00a0', '\u2028'), fc.string({ maxLength: 8 })), { maxLength: 10 }), fc.constantFrom(' ', '\t', '  ')).map(([a, sep]) => a.join(sep)) },
      { weight: 1, arbitrary: fc.string({ maxLength: 60, unit: 'binary' }) },
    ),
    { maxLength: 20 },
  )
  .chain((lines) => fc.constantFrom('\n', '\r\n', '\r').map((nl) => lines.join(nl)));

const HEADERS = ['file,label,patient_id', 'file,label,patient_id,split,source', 'filename,class', 'path,finding,patient,view', 'file,label', 'name,class_id', '\ufefffile,label,patient_id', 'FILE , Label ,patient_id', 'file,file,label'];

/** Text that looks like CSV manifests: headers, quoting, commas inside quotes, empty fields, junk. */
export const csvTextArb: fc.Arbitrary<string> = fc
  .tuple(
    fc.oneof(fc.constantFrom(...HEADERS), fc.string({ maxLength: 40 })),
    fc.array(
      fc.oneof(
        { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...NAMES, '"a,b.png"', '"q""uote.png"', ''), fc.constantFrom(...LABELS), fc.constantFrom('p1', 'p2', '', '"p,3"'), fc.constantFrom('train', 'val', 'validation', 'test', 'dev', 'holdout', ''), fc.constantFrom('nih', '', 'x y')).map((f) => f.join(',')) },
        { weight: 2, arbitrary: fc.array(fc.oneof(fc.constantFrom('"', ',', '""', '\n', '\r', ' ', 'a', 'normal'), fc.string({ maxLength: 6 })), { maxLength: 12 }).map((a) => a.join('')) },
        { weight: 1, arbitrary: fc.string({ maxLength: 50, unit: 'binary' }) },
      ),
      { maxLength: 15 },
    ),
  )
  .chain(([h, rows]) => fc.constantFrom('\n', '\r\n').map((nl) => [h, ...rows].join(nl)));
