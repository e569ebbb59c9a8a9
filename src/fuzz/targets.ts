/**
 * Fuzz targets: every parser of outside input, driven by fast-check (property-based; Jazzer.js
 * would need a binary download at install). A target's property fails on a "crash": anything
 * thrown other than the parser's own refusal (a CovidNetError with a code, or an HttpError with a
 * 4xx status for the server), a result that breaks the parser's contract (wrong size, values out
 * of range, a path where a name belongs, ...), a hang (per-run timeout for async targets) or the
 * process dying (a native abort: the runner in ./main.ts sees the child exit).
 *
 * Targets: png-fast (the PNG fast path, native row filters when the addon is built), png (the
 * whole PNG decode, sharp included), jpeg (the native libjpeg path and the sharp fallback, EXIF
 * and CMYK), dicom (dicom-parser and our pixel/VOI code), exif (EXIF orientation from the
 * markers), covidx and csv (the manifest parsers, on a stand-in file system), serve-request (the
 * server's header/target parsing) and serve-http (a real server on a tiny run, raw HTTP requests
 * over TCP), queue-job (job payloads from Redis, and Redis URLs: the password never shows).
 */
import net from 'node:net';
import type { Stats } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { isCovidNetError } from '../errors.js';
import { CLASSES } from '../types.js';
import { decodeGray, readImageHeader } from '../data/decode.js';
import { decodePngFast } from '../data/png-fast.js';
import { jpegExifOrientation } from '../data/exif.js';
import { MAX_PIXELS } from '../data/limits.js';
import { imageOps, jpegOps, useNativeImageOps } from '../data/native-ops.js';
import { parseCovidxText, parseCsvText, type LoaderFs } from '../data/load.js';
import { checkHost, checkOrigin, classParam, declaredLength, fileNameHeader, HttpError, MAX_FILE_NAME, parseTarget } from '../serve/request.js';
import { CellJobSchema, maskRedisUrl, parseRedisUrl } from '../workflows/experiment/queue-job.js';
import { dicomArb, jpegCorpus, jpegFrames, mutatedArb, pngArb, pngCorpus, realCorpus, covidxTextArb, csvTextArb, mutationArb, mutate } from './inputs.js';

export interface FuzzTarget<T = unknown> {
  name: string;
  /** Inputs, built once per process (corpus files are generated here). */
  setup(): Promise<{ arb: fc.Arbitrary<T>; run: (input: T) => void | Promise<void>; teardown?: () => Promise<void> }>;
  async: boolean;
}

/** Thrown for a crash: the property fails with this message. */
export class Crash extends Error {
  override name = 'Crash';
}

function allowedRefusal(e: unknown): boolean {
  return isCovidNetError(e) && typeof e.code === 'string' && e.code.startsWith('E_') && !e.message.includes('\n');
}

/** Run `f`; a refusal (CovidNetError) is fine, anything else is a crash. */
async function refusesCleanly<R>(f: () => Promise<R>): Promise<R | undefined> {
  try {
    return await f();
  } catch (e) {
    if (allowedRefusal(e)) return undefined;
    throw new Crash(`not a CovidNetError: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, { cause: e });
  }
}

function checkGray(d: { width: number; height: number; u8?: Uint8Array; f32?: Float32Array }): void {
  const n = d.width * d.height;
  if (!(Number.isInteger(d.width) && Number.isInteger(d.height) && d.width > 0 && d.height > 0 && n <= MAX_PIXELS)) throw new Crash(`bad size ${d.width}x${d.height}`);
  if ((d.u8 === undefined) === (d.f32 === undefined)) throw new Crash('not exactly one of u8/f32');
  const len = (d.u8 ?? d.f32)!.length;
  if (len !== n) throw new Crash(`data length ${len} for ${d.width}x${d.height}`);
  if (d.f32) for (const v of d.f32) if (!(v >= 0 && v <= 1)) throw new Crash(`value ${v} outside [0, 1]`);
}

/** The whole decode of a buffer (and its header read), checked. */
async function decodeChecked(buf: Buffer): Promise<void> {
  const d = await refusesCleanly(() => decodeGray(buf, { file: 'fuzz' }));
  if (d) checkGray(d);
  const h = await refusesCleanly(() => readImageHeader(buf, { file: 'fuzz' }));
  if (h && !(h.width > 0 && h.height > 0 && h.width * h.height <= MAX_PIXELS)) throw new Crash(`header size ${h.width}x${h.height}`);
}

// ---------------------------------------------------------------- images

const pngFast: FuzzTarget<Buffer> = {
  name: 'png-fast',
  async: false,
  async setup() {
    const corpus = await pngCorpus();
    const native = imageOps() !== undefined;
    return {
      arb: fc.oneof({ weight: 4, arbitrary: pngArb }, { weight: 1, arbitrary: mutatedArb(corpus) }),
      run: (buf) => {
        const once = (): ReturnType<typeof decodePngFast> => {
          try {
            return decodePngFast(buf);
          } catch (e) {
            throw new Crash(`decodePngFast threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, { cause: e });
          }
        };
        const r = once();
        if (r && (r.data.length !== r.width * r.height || r.width * r.height > MAX_PIXELS || r.width === 0)) throw new Crash(`fast path gave ${r.data.length} bytes for ${r.width}x${r.height}`);
        if (!native) return;
        // differential: the addon's row filters and the TypeScript ones give the same answer
        useNativeImageOps(false);
        let js;
        try {
          js = once();
        } finally {
          useNativeImageOps(true);
        }
        if ((r === undefined) !== (js === undefined) || (r && js && Buffer.compare(Buffer.from(r.data), Buffer.from(js.data)) !== 0)) throw new Crash(`native and TypeScript PNG row filters disagree (${r ? 'pixels' : 'undefined'} vs ${js ? 'pixels' : 'undefined'})`);
      },
    };
  },
};

const png: FuzzTarget<Buffer> = {
  name: 'png',
  async: true,
  async setup() {
    const corpus = [...(await pngCorpus()), ...realCorpus(/\.png$/i, 3, 60_000)];
    return { arb: fc.oneof({ weight: 2, arbitrary: pngArb }, { weight: 1, arbitrary: mutatedArb(corpus) }), run: decodeChecked };
  },
};

const jpeg: FuzzTarget<Buffer> = {
  name: 'jpeg',
  async: true,
  async setup() {
    const corpus = [...(await jpegCorpus()), ...realCorpus(/\.jpe?g$/i, 3, 40_000)];
    const native = jpegOps() !== undefined;
    return {
      arb: mutatedArb(corpus, 8),
      run: async (buf) => {
        await decodeChecked(buf);
        if (!native) return;
        // differential: what the native libjpeg path decodes, sharp decodes to the same pixels
        const r = jpegOps()!.jpegDecodeGray(buf, MAX_PIXELS);
        if (!r || 'tooLarge' in r || jpegExifOrientation(buf) !== 1) return;
        useNativeImageOps(false);
        let viaSharp;
        try {
          viaSharp = await refusesCleanly(() => decodeGray(buf));
        } finally {
          useNativeImageOps(true);
        }
        if (!viaSharp) throw new Crash(`the native path decodes a ${r.width}x${r.height} JPEG that sharp refuses`);
        if (viaSharp.width !== r.width || viaSharp.height !== r.height || !viaSharp.u8 || Buffer.compare(Buffer.from(viaSharp.u8), Buffer.from(r.data)) !== 0) {
          let diff = 0;
          if (viaSharp.u8 && viaSharp.u8.length === r.data.length) for (let i = 0; i < r.data.length; i++) diff = Math.max(diff, Math.abs(viaSharp.u8[i]! - r.data[i]!));
          throw new Crash(`native and sharp JPEG decodes differ (${r.width}x${r.height} vs ${viaSharp.width}x${viaSharp.height}, max difference ${diff})`);
        }
      },
    };
  },
};

const dicom: FuzzTarget<Buffer> = {
  name: 'dicom',
  async: true,
  async setup() {
    const jpegs = await jpegFrames((await jpegCorpus()).filter((_, i) => i % 5 < 3));
    const corpus = realCorpus(/\.dcm$/i, 2, 2_000_000);
    return { arb: dicomArb(jpegs, corpus.length ? corpus : jpegs.map((f) => f.data)), run: decodeChecked };
  },
};

const exif: FuzzTarget<Buffer> = {
  name: 'exif',
  async: false,
  async setup() {
    // SOI, maybe JFIF, an APP1 Exif segment with a TIFF header and an IFD, then anything
    const ifd = (le: boolean, entries: { tag: number; type: number; count: number; value: number }[]): Buffer => {
      const b = Buffer.alloc(8 + 2 + 12 * entries.length + 4);
      b.write(le ? 'II' : 'MM', 0, 'latin1');
      const w16 = (v: number, o: number): number => (le ? b.writeUInt16LE(v & 0xffff, o) : b.writeUInt16BE(v & 0xffff, o));
      const w32 = (v: number, o: number): number => (le ? b.writeUInt32LE(v >>> 0, o) : b.writeUInt32BE(v >>> 0, o));
      w16(42, 2);
      w32(8, 4);
      w16(entries.length, 8);
      entries.forEach((e, i) => {
        w16(e.tag, 10 + 12 * i);
        w16(e.type, 12 + 12 * i);
        w32(e.count, 14 + 12 * i);
        w16(e.value, 18 + 12 * i);
      });
      return b;
    };
    const entry = fc.record({ tag: fc.constantFrom(0x0112, 0x0112, 0x010f, 0x8769, 0), type: fc.constantFrom(3, 4, 1), count: fc.constantFrom(1, 0, 0xffffffff), value: fc.integer({ min: 0, max: 0xffff }) });
    const app1 = fc.tuple(fc.boolean(), fc.array(entry, { maxLength: 6 }), fc.integer({ min: -4, max: 4 })).map(([le, es, lenDelta]) => {
      const tiff = ifd(le, es);
      const seg = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
      const head = Buffer.from([0xff, 0xe1, 0, 0]);
      head.writeUInt16BE(Math.max(0, Math.min(0xffff, seg.length + 2 + lenDelta)), 2);
      return Buffer.concat([head, seg]);
    });
    const jfif = Buffer.from([0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00]);
    const arb = fc
      .tuple(fc.boolean(), app1, fc.uint8Array({ maxLength: 40 }), fc.array(mutationArb, { maxLength: 4 }))
      .map(([withJfif, a, rest, ms]) => mutate(Buffer.concat([Buffer.from([0xff, 0xd8]), withJfif ? jfif : Buffer.alloc(0), a, rest]), ms));
    return {
      arb: fc.oneof({ weight: 5, arbitrary: arb }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u)) }),
      run: (buf) => {
        let v;
        try {
          v = jpegExifOrientation(buf);
        } catch (e) {
          throw new Crash(`jpegExifOrientation threw ${e instanceof Error ? e.message : String(e)}`, { cause: e });
        }
        if (!(Number.isInteger(v) && v >= 1 && v <= 8)) throw new Crash(`orientation ${v}`);
      },
    };
  },
};

// ---------------------------------------------------------------- manifests

/** A stand-in file system: these names exist (as regular files, a FIFO, a folder), nothing else. */
function fakeFs(root: string): LoaderFs {
  const kinds = new Map<string, 'file' | 'fifo' | 'dir'>();
  for (const n of ['a.png', 'b c.png', 'two  spaces.jpg', 'd.dcm', 'ünï.png', 'e\tf.png', 'normal']) {
    for (const d of ['', 'train', 'test', 'val']) kinds.set(path.join(root, d, n), 'file');
  }
  kinds.set(path.join(root, 'train', 'COVID-19'), 'fifo');
  kinds.set(path.join(root, 'd.dcm'), 'dir');
  const st = (k: 'file' | 'fifo' | 'dir'): Stats => ({ isFile: () => k === 'file', isDirectory: () => k === 'dir', isFIFO: () => k === 'fifo', isCharacterDevice: () => false, isBlockDevice: () => false, isSocket: () => false, isSymbolicLink: () => false }) as unknown as Stats;
  return { stat: (p) => (kinds.has(p) ? st(kinds.get(p)!) : undefined) };
}

function checkLoad(r: { items: { file: string; label: string; patientId: string; source: string }[]; skipped: { file: string; code: string; reason: string; line?: number }[] }, fs: LoaderFs, lines: number): void {
  for (const it of r.items) {
    if (!fs.stat(it.file)?.isFile()) throw new Crash(`item ${JSON.stringify(it.file)} is no regular file of the stand-in`);
    if (!(CLASSES as readonly string[]).includes(it.label)) throw new Crash(`label ${it.label}`);
    if (typeof it.patientId !== 'string' || typeof it.source !== 'string') throw new Crash('patient/source not strings');
  }
  for (const s of r.skipped) {
    if (!/^E_[A-Z_]+$/.test(s.code) || s.reason.includes('\n') || s.reason.length > 400) throw new Crash(`skipped entry ${JSON.stringify(s)}`);
    if (s.line !== undefined && !(s.line >= 1 && s.line <= lines + 1)) throw new Crash(`line ${s.line} of ${lines}`);
  }
}

const covidx: FuzzTarget<string> = {
  name: 'covidx',
  async: false,
  async setup() {
    const root = '/fuzz/covidx';
    const fs = fakeFs(root);
    return {
      arb: covidxTextArb,
      run: (text) => {
        let r;
        try {
          r = parseCovidxText(text, path.join(root, 'train.txt'), 'train', [path.join(root, 'train'), root], fs);
        } catch (e) {
          if (allowedRefusal(e)) return;
          throw new Crash(`parseCovidxText threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, { cause: e });
        }
        checkLoad(r, fs, text.split(/\r?\n/).length);
        if (r.items.length + r.skipped.length > text.split(/\r?\n/).length) throw new Crash('more entries than lines');
      },
    };
  },
};

const csv: FuzzTarget<string> = {
  name: 'csv',
  async: false,
  async setup() {
    const root = '/fuzz/csv';
    const fs = fakeFs(root);
    return {
      arb: csvTextArb,
      run: (text) => {
        let r;
        try {
          r = parseCsvText(text, path.join(root, 'labels.csv'), root, fs);
        } catch (e) {
          if (allowedRefusal(e) && (e as { code: string }).code === 'E_MANIFEST') return;
          throw new Crash(`parseCsvText threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, { cause: e });
        }
        checkLoad(r, fs, text.split(/\r\n|\n|\r/).length);
      },
    };
  },
};

// ---------------------------------------------------------------- server

const headerValue = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ maxLength: 40, unit: 'binary' }),
  fc.constantFrom('', '127.0.0.1:8080', 'localhost', '[::1]:1', '[::1', 'evil.example', 'http://127.0.0.1:8080', 'null', 'http://[', '%', '%E0%A4%A', '..%2F..%2Fetc%2Fpasswd', '%00', 'a/b\\c', '-1', '1e3', '00', '999999999999999999999'),
);

const serveRequest: FuzzTarget<{ host?: string; origin?: string; target: string; name?: string; length?: string; listen: string }> = {
  name: 'serve-request',
  async: false,
  async setup() {
    const target = fc.oneof(
      fc.string({ maxLength: 60 }),
      fc.tuple(fc.constantFrom('/', '/api/explain', '/api/info', '//x', '/%', '/a?b'), fc.array(fc.tuple(fc.constantFrom('target', 'contrast', 'x'), headerValue), { maxLength: 3 })).map(([p, q]) => `${p}?${q.map(([k, v]) => `${k}=${v}`).join('&')}`),
    );
    return {
      arb: fc.record({ host: fc.option(headerValue, { nil: undefined }), origin: fc.option(headerValue, { nil: undefined }), target, name: fc.option(headerValue, { nil: undefined }), length: fc.option(headerValue, { nil: undefined }), listen: fc.constantFrom('127.0.0.1', '0.0.0.0', '::1', 'localhost') }),
      run: (r) => {
        const step = (f: () => void): void => {
          try {
            f();
          } catch (e) {
            if (e instanceof HttpError && e.status >= 400 && e.status < 500 && /^E_[A-Z_]+$/.test(e.code) && !e.message.includes('\n')) return;
            throw new Crash(`request handling threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, { cause: e });
          }
        };
        step(() => checkHost(r.host, r.listen));
        step(() => checkOrigin(r.origin, r.host));
        step(() => {
          const u = parseTarget(r.target);
          if (u.host !== 'localhost') throw new Crash(`target ${JSON.stringify(r.target)} names host ${u.host}`);
          step(() => void classParam(u, 'target', CLASSES));
          step(() => void classParam(u, 'contrast', CLASSES));
        });
        step(() => {
          const n = fileNameHeader(r.name);
          if (n === '' || n.includes('/') || n.includes('\\') || /[\u0000-\u001f]/.test(n) || n.length > MAX_FILE_NAME || n === '..' || n === '.') throw new Crash(`file name ${JSON.stringify(n)}`);
        });
        step(() => {
          const l = declaredLength(r.length);
          if (l !== undefined && !(Number.isSafeInteger(l) && l >= 0)) throw new Crash(`length ${l}`);
        });
      },
    };
  },
};

interface HttpCase {
  method: string;
  path: string;
  headers: [string, string][];
  body: Buffer;
  /** How the length is declared. */
  framing: 'length' | 'chunked' | 'none' | 'wrong-length';
  /** Raw bytes instead of a well-formed request. */
  raw?: Buffer;
}

/**
 * One request over a fresh TCP connection; the answer's head and body ('' when closed without
 * one). The client does not half-close (Node's server drops a request whose client does, before
 * answering, as most servers may); `giveUpMs`: a request that cannot be complete (a body shorter
 * than declared, bytes that are no request) is left after this long without an answer.
 */
function exchange(port: number, bytes: Buffer, timeoutMs: number, giveUpMs?: number): Promise<{ head: string; body: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    const parts: Buffer[] = [];
    let done = false;
    const finish = (timedOut: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      const all = Buffer.concat(parts).toString('latin1');
      const at = all.indexOf('\r\n\r\n');
      resolve({ head: at < 0 ? all : all.slice(0, at), body: at < 0 ? '' : all.slice(at + 4), timedOut });
    };
    const timer = setTimeout(() => finish(giveUpMs === undefined), giveUpMs ?? timeoutMs);
    sock.on('data', (c: Buffer) => parts.push(c));
    sock.on('end', () => finish(false));
    sock.on('close', () => finish(false));
    sock.on('error', () => finish(false));
    sock.write(bytes);
  });
}

function encodeRequest(c: HttpCase, port: number): Buffer {
  if (c.raw) return c.raw;
  const lines = [`${c.method} ${c.path} HTTP/1.1`];
  const names = new Set(c.headers.map(([k]) => k.toLowerCase()));
  if (!names.has('host')) lines.push(`Host: 127.0.0.1:${port}`);
  for (const [k, v] of c.headers) lines.push(`${k}: ${v}`);
  lines.push('Connection: close');
  let body = c.body;
  if (c.framing === 'length') lines.push(`Content-Length: ${body.length}`);
  if (c.framing === 'wrong-length') lines.push(`Content-Length: ${body.length + 10}`);
  if (c.framing === 'chunked') {
    lines.push('Transfer-Encoding: chunked');
    body = Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]);
  }
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
}

const serveHttp: FuzzTarget<HttpCase> = {
  name: 'serve-http',
  async: true,
  async setup() {
    const { makeTinyRun } = await import('../report/testing.js');
    const { startServer } = await import('../serve/server.js');
    const tf = await import('../tf.js');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'covidnet-fuzz-serve-'));
    const { run } = await makeTinyRun(dir, { size: 32 });
    const s = await startServer({ run, port: 0, maxBytes: 300_000, maxPixels: 1_000_000, queue: 2 });
    const port = Number(new URL(s.url).port);
    const tensors = tf.memory().numTensors;
    const images = [...(await pngCorpus()).slice(0, 4), ...(await jpegCorpus()).slice(0, 5)];
    const value = fc.oneof(fc.string({ maxLength: 30 }).map((v) => v.replace(/[\r\n]/g, ' ')), fc.constantFrom('http://evil.example', 'null', `http://127.0.0.1:${port}`, 'evil.example', `127.0.0.1:${port}`, '%E0%A4%A', encodeURIComponent('../x y.png'), '-1', '99999999999'));
    const arb: fc.Arbitrary<HttpCase> = fc.oneof(
      {
        weight: 6,
        arbitrary: fc.record({
          method: fc.constantFrom('GET', 'HEAD', 'POST', 'POST', 'POST', 'PUT', 'OPTIONS', 'DELETE', 'PATCH'),
          path: fc.oneof(fc.constantFrom('/', '/api/info', '/api/explain', '/api/explain?target=pneumonia', '/api/explain?contrast=normal', '/api/explain?target=flu', '//x/api/info', '/%', '/api/explain?target=%ZZ', '/..%2f'), fc.webPath().map((p) => p || '/')),
          headers: fc.array(fc.tuple(fc.constantFrom('Host', 'Origin', 'X-File-Name', 'Content-Type', 'Accept', 'X-Forwarded-For', 'Expect'), value), { maxLength: 4 }),
          body: fc.oneof(fc.constant(Buffer.alloc(0)), mutatedArb(images, 4), fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u))),
          framing: fc.constantFrom('length' as const, 'length' as const, 'chunked' as const, 'none' as const, 'wrong-length' as const),
        }),
      },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((u) => ({ method: '', path: '', headers: [], body: Buffer.alloc(0), framing: 'none' as const, raw: Buffer.from(u) })) },
      {
        weight: 1,
        arbitrary: fc.tuple(fc.constantFrom('GET / HTTP/1.1\r\n', 'POST /api/explain HTTP/1.1\r\nContent-Length: 5\r\n', 'GET /api/info HTTP/1.0\r\n'), fc.string({ maxLength: 100, unit: 'binary' })).map(([a, b]) => ({ method: '', path: '', headers: [], body: Buffer.alloc(0), framing: 'none' as const, raw: Buffer.from(`${a}${b}\r\n\r\n`, 'latin1') })),
      },
    );
    let count = 0;
    const probe = images[0]!;
    const alive = async (): Promise<void> => {
      const r = await exchange(port, Buffer.from(`GET /api/info HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`), 20_000);
      if (!r.head.startsWith('HTTP/1.1 200')) throw new Crash(`server no longer answers /api/info (${r.timedOut ? 'timeout' : JSON.stringify(r.head.slice(0, 40))})`);
      // nothing else is in flight: a place left taken in the queue would show as 503 here
      const e = await exchange(port, encodeRequest({ method: 'POST', path: '/api/explain', headers: [], body: probe, framing: 'length' }, port), 20_000);
      if (!e.head.startsWith('HTTP/1.1 200')) throw new Crash(`server no longer explains a good image (${e.timedOut ? 'timeout' : JSON.stringify(e.head.slice(0, 40))})`);
    };
    return {
      arb,
      run: async (c) => {
        const incomplete = c.raw !== undefined || c.framing === 'wrong-length';
        const r = await exchange(port, encodeRequest(c, port), 20_000, incomplete ? 300 : undefined);
        if (r.timedOut) throw new Crash('no answer within 20 s (hang)');
        const status = /^HTTP\/1\.[01] (\d{3})/.exec(r.head)?.[1];
        if (status === undefined) {
          // no answer is acceptable only for a request that cannot be complete
          if (!incomplete) throw new Crash(`closed without an answer: ${JSON.stringify(r.head.slice(0, 60))}`);
        } else {
          if (Number(status) >= 500 && status !== '503') throw new Crash(`status ${status}: ${r.body.slice(0, 200)}`);
          if (!c.raw && Number(status) >= 400 && c.method !== 'HEAD' && /content-type: application\/json/i.test(r.head)) {
            let j: { code?: unknown };
            try {
              j = JSON.parse(r.body) as { code?: unknown };
            } catch {
              throw new Crash(`error body is not JSON: ${r.body.slice(0, 100)}`);
            }
            if (typeof j.code !== 'string' || !j.code.startsWith('E_')) throw new Crash(`error without a code: ${r.body.slice(0, 100)}`);
          }
        }
        if (++count % 200 === 0) await alive();
      },
      teardown: async () => {
        await alive();
        const after = tf.memory().numTensors;
        await s.close();
        await rm(dir, { recursive: true, force: true });
        if (after !== tensors) throw new Crash(`tensors leaked: ${tensors} after start, ${after} after the runs`);
      },
    };
  },
};

/** The queue's outside input: job payloads from Redis and Redis URLs with a password in them. */
type QueueCase = { kind: 'job'; payload: unknown } | { kind: 'url'; url: string };
const SECRET = 'Zk7fuzzSecret';
const urlArb = fc
  .tuple(fc.constantFrom('redis', 'rediss', 'http', 'redis+tls', ''), fc.string({ maxLength: 12 }), fc.string({ maxLength: 24 }), fc.string({ maxLength: 12 }), fc.constantFrom('://', ':/', '//', ':'))
  .map(([scheme, user, host, rest, sep]) => `${scheme}${sep}${user}:${SECRET}@${host}${rest}`);
const validJob = (): Record<string, unknown> => ({
  v: 1,
  experiment: '/shared/exp',
  cell: { id: 'single/seed-1', net: 'single', seed: 1, splitSeed: 1, perClass: null, config: { model: 'single', data: '/data/labels.csv', size: 32, seed: 1, splitSeed: 1 } },
  code: { version: '0.1.0', commit: null },
  dataHash: 'a'.repeat(64),
});
const jobArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.anything(),
  // a valid job with one field (top level or in the cell or its config) replaced by anything
  fc.tuple(fc.constantFrom('', 'cell', 'cell.config'), fc.string({ maxLength: 12 }), fc.constantFrom('v', 'experiment', 'cell', 'code', 'dataHash', 'id', 'net', 'seed', 'perClass', 'config', 'data', 'size', 'model', 'out', 'epochs'), fc.anything()).map(([where, extra, key, value]) => {
    const job = validJob();
    const target = where === '' ? job : where === 'cell' ? (job.cell as Record<string, unknown>) : ((job.cell as Record<string, unknown>).config as Record<string, unknown>);
    target[extra.length % 2 ? key : extra] = value;
    return job;
  }),
);
const queueJob: FuzzTarget<QueueCase> = {
  name: 'queue-job',
  async: false,
  async setup() {
    return {
      arb: fc.oneof(jobArb.map((payload): QueueCase => ({ kind: 'job', payload })), urlArb.map((url): QueueCase => ({ kind: 'url', url }))),
      run: (c) => {
        if (c.kind === 'job') {
          const r = CellJobSchema.safeParse(c.payload);
          if (!r.success) return;
          const id = r.data.cell.id;
          if (id.split('/').some((p) => p === '' || p === '.' || p === '..')) throw new Crash(`accepted cell id ${JSON.stringify(id)}`);
          if (!path.isAbsolute(r.data.experiment)) throw new Crash(`accepted experiment ${JSON.stringify(r.data.experiment)}`);
          if ('out' in r.data.cell.config || 'cacheDir' in r.data.cell.config) throw new Crash('accepted a job that sets out or cacheDir');
          return;
        }
        let t;
        try {
          t = parseRedisUrl(c.url);
        } catch (e) {
          if (!allowedRefusal(e)) throw new Crash(`parseRedisUrl threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, { cause: e });
          if ((e as Error).message.includes(SECRET)) throw new Crash(`the password is in the error: ${(e as Error).message}`);
          return;
        }
        if (t.masked.includes(SECRET) || maskRedisUrl(c.url).includes(SECRET)) throw new Crash(`the password is in the masked URL ${t.masked}`);
      },
    };
  },
};

export const TARGETS: readonly FuzzTarget<never>[] = [pngFast, png, jpeg, dicom, exif, covidx, csv, serveRequest, serveHttp, queueJob] as unknown as FuzzTarget<never>[];

export interface FuzzResult {
  target: string;
  executions: number;
  seconds: number;
  seed: number;
  failure?: { message: string; counterexample: string; path?: string };
}

/** Run one target for `numRuns` runs or `seconds`, whichever ends first. */
export async function fuzz(t: FuzzTarget<never>, opts: { numRuns?: number; seconds?: number; seed?: number; timeoutMs?: number }): Promise<FuzzResult> {
  const { arb, run, teardown } = await (t as unknown as FuzzTarget<unknown>).setup();
  const seed = opts.seed ?? Date.now() % 2 ** 31;
  let executions = 0;
  const t0 = performance.now();
  const params: fc.Parameters<[unknown]> = {
    seed,
    numRuns: opts.numRuns ?? 2 ** 31 - 1,
    ...(opts.seconds !== undefined ? { interruptAfterTimeLimit: opts.seconds * 1000, markInterruptAsFailure: false } : {}),
    ...(t.async ? { timeout: opts.timeoutMs ?? 30_000 } : {}),
  };
  const details = t.async
    ? await fc.check(
        fc.asyncProperty(arb, async (x) => {
          executions++;
          await run(x);
        }),
        params,
      )
    : fc.check(
        fc.property(arb, (x) => {
          executions++;
          void run(x);
        }),
        params,
      );
  const result: FuzzResult = { target: t.name, executions, seconds: Math.round((performance.now() - t0) / 100) / 10, seed };
  if (details.failed) {
    const err = details.errorInstance;
    const show = (v: unknown): string => {
      const s = fc.stringify(v);
      return s.length > 2000 ? `${s.slice(0, 2000)}…` : s;
    };
    result.failure = { message: err instanceof Error ? err.message : String(err), counterexample: show(details.counterexample?.[0]), ...(details.counterexamplePath ? { path: details.counterexamplePath } : {}) };
  }
  try {
    await teardown?.();
  } catch (e) {
    result.failure ??= { message: e instanceof Error ? e.message : String(e), counterexample: '(after the runs)' };
  }
  return result;
}
