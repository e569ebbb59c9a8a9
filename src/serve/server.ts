/**
 * `covidnet serve`: a local web page where a person drops a chest X-ray and gets the prediction
 * with its Grad-CAM explanation. The image goes to this process only (bound to 127.0.0.1 by
 * default) and is never written to disk; the page loads nothing from the network.
 *
 *   const s = await startServer({ run: 'runs/single', port: 8080 });
 *   console.log(s.url);  ...  await s.close();
 *
 * Routes: GET / and the web app's files (src/web: the page, its script, the run's model files; the
 * page decodes, scores and explains in the browser, as `covidnet export web`'s site does),
 * GET /api/info (the run), POST /api/explain (server-side inference, body: the file's bytes; query
 * `target`, `contrast`; header `x-file-name`), API answers JSON; HEAD as GET.
 * Node's own http module: three routes need no framework.
 *
 * Hostile input: Host and Origin are checked (./request.ts); uploads are bounded in bytes (413,
 * chunked ones too, answered before the connection closes) and in pixels, from the image header
 * before anything is decoded (413); one upload is read and explained at a time, a few more wait
 * unread, and beyond that requests are refused at once (503), so memory holds about one upload
 * whatever the load.
 */
import type { HeatMethod } from '../explain/methods.js';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CovidNetError, isCovidNetError, optionError } from '../errors.js';
import { RESEARCH_NOTICE, type ClassName } from '../types.js';
import { MAX_PIXELS, readImageHeader } from '../data/index.js';
import { Explainer, isExplained, overlayPng } from '../explain/explain.js';
import { siteFiles, type SiteFile } from '../web/site.js';
import { SITE_CSP_HEADER } from '../web/page.js';
import { runInfo, type RunInfo } from './run-info.js';
import { checkHost, checkOrigin, classParam, declaredLength, fileNameHeader, HttpError, isLoopback, parseTarget } from './request.js';
import { WorkQueue } from './queue.js';

export { isLoopback };

export interface ServeOptions {
  run: string;
  /** Interface to listen on (default 127.0.0.1: this computer only). */
  host?: string | undefined;
  /** Port (default 8080; 0 = any free port). */
  port?: number | undefined;
  backend?: string | undefined;
  threads?: number | undefined;
  /** Largest accepted upload in bytes (default 64 MiB). */
  maxBytes?: number | undefined;
  /** Largest accepted image in pixels, read from its header before decoding (default 40 megapixels). */
  maxPixels?: number | undefined;
  /** Uploads that may wait while one is explained (default 4); more are refused with 503. */
  queue?: number | undefined;
}

export interface ExplainResponse {
  file: string;
  /** The raw scores' argmax; the page shows no class for an out-of-distribution image unless asked. */
  predicted: ClassName;
  /** Raw scores. */
  scores: Record<ClassName, number>;
  score_kind: RunInfo['scores'];
  /** Calibrated probabilities and the out-of-distribution verdict (null where the run lacks calibration.json / ood.json). */
  calibrated: Record<ClassName, number> | null;
  ood_score: number | null;
  ood_threshold: number | null;
  in_distribution: boolean | null;
  target: ClassName;
  contrast: ClassName | null;
  /** How the heat map was made, and the class its margin is against (null: the target's own score). */
  method: HeatMethod;
  versus: ClassName | null;
  /** True when the map is all zero (no positive evidence); then there is no peak. */
  flat: boolean;
  /** Heat-map maximum in original pixels; null for a flat map. */
  peak: { x: number; y: number } | null;
  border_mass: number | null;
  width: number;
  height: number;
  /** The overlay (heat map on the image, caption, colour bar, notice) as a data: URL. */
  overlay: string;
  seconds: number;
  notice: string;
}

export interface RunningServer {
  url: string;
  info: RunInfo;
  server: http.Server;
  /** Stop listening, wait for open requests, free the model. */
  close(): Promise<void>;
}

const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
/** 40 megapixels: twice the largest chest detectors (43 cm at 0.1 mm: 4300²), 0.4 of the decoder's limit. */
export const DEFAULT_MAX_PIXELS = 40_000_000;
const DEFAULT_QUEUE = 4;
/** After a 413, the rest of an upload is read and dropped up to this many bytes, so the client reads the answer. */
const DRAIN_BYTES = 64 * 1024 * 1024;

// the web app's policy (src/web/page.ts): only this origin, so images cannot leak through the page;
// and no other site may frame it (clickjacking)
const CSP = SITE_CSP_HEADER;

function send(res: http.ServerResponse, status: number, body: string | Buffer, type: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'content-security-policy': CSP,
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cross-origin-resource-policy': 'same-origin',
    ...extra,
  });
  res.end(body);
}

function sendJson(res: http.ServerResponse, status: number, v: unknown, extra: Record<string, string> = {}): void {
  send(res, status, JSON.stringify(v), 'application/json; charset=utf-8', extra);
}

/**
 * The upload, at most `max` bytes, in one buffer (from `alloc`, once, when the length is declared).
 * Over the limit: 413 at once; the rest is read and dropped (up to DRAIN_BYTES) so that the client,
 * still sending, gets the answer instead of a reset connection.
 */
function readBody(req: http.IncomingMessage, max: number, declared: number | undefined, alloc: (n: number) => Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = declared !== undefined ? alloc(declared) : undefined;
    const parts: Buffer[] = [];
    let n = 0;
    let over = false;
    let drained = 0;
    req.on('data', (c: Buffer) => {
      if (over) {
        drained += c.length;
        if (drained > DRAIN_BYTES) req.destroy();
        return;
      }
      if (n + c.length > max) {
        over = true;
        buf = undefined;
        parts.length = 0;
        reject(new HttpError(413, 'E_TOO_LARGE', `upload is over the ${max}-byte limit`));
        return;
      }
      if (buf) c.copy(buf, n);
      else parts.push(c);
      n += c.length;
    });
    req.on('end', () => {
      if (!over) resolve(buf ? buf.subarray(0, n) : Buffer.concat(parts, n));
    });
    req.on('error', (e) => reject(new HttpError(400, 'E_FILE_TRUNCATED', `upload failed (${e.message})`)));
    // a client that goes away mid-upload: settle instead of waiting forever
    req.on('close', () => {
      if (!req.complete) reject(new HttpError(400, 'E_FILE_TRUNCATED', 'upload interrupted'));
    });
  });
}

export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw optionError('--port', 'an integer port in [0, 65535]', port);
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  if (!Number.isInteger(maxBytes) || maxBytes < 1) throw optionError('maxBytes', 'a positive integer', maxBytes);
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!Number.isInteger(maxPixels) || maxPixels < 1 || maxPixels > MAX_PIXELS) throw optionError('maxPixels', `an integer in [1, ${MAX_PIXELS}]`, maxPixels);
  const depth = opts.queue ?? DEFAULT_QUEUE;
  if (!Number.isInteger(depth) || depth < 0 || depth > 1000) throw optionError('queue', 'an integer in [0, 1000]', depth);
  const explainer = await Explainer.open(opts.run, { backend: opts.backend, threads: opts.threads });
  const info = runInfo(explainer.runModel);
  // the web app, in memory: one UI for serve and export
  const site = new Map<string, SiteFile>((await siteFiles(opts.run).catch((e: unknown) => {
    explainer.close();
    throw e;
  })).map((f) => [`/${f.name}`, f]));
  // one image at a time: Grad-CAM holds the model's graph, and two cores gain nothing from overlap
  const work = new WorkQueue(1, depth);
  // Uploads are read one at a time, so one buffer serves them all: a new 60 MiB buffer per upload
  // would leave the last few alive until V8 collects them (peak memory under load grew by two or
  // three uploads). It is fully overwritten by each upload (only the bytes received are used) and
  // dropped after a minute without uploads.
  let spare: Buffer | undefined;
  let spareTimer: NodeJS.Timeout | undefined;
  const takeBuffer = (n: number): Buffer => {
    const b = spare !== undefined && spare.length >= n ? spare : Buffer.allocUnsafe(n);
    spare = undefined;
    return b.subarray(0, n);
  };
  const giveBuffer = (b: Buffer | undefined): void => {
    // under 1 MiB a buffer may share Node's allocation pool with others: never reused
    if (b === undefined || b.buffer.byteLength < 1 << 20) return;
    const whole = Buffer.from(b.buffer, 0, b.buffer.byteLength);
    if (spare === undefined || whole.length > spare.length) spare = whole;
    clearTimeout(spareTimer);
    spareTimer = setTimeout(() => (spare = undefined), 60_000).unref();
  };

  async function explain(name: string, data: Buffer, target: ClassName | undefined, contrast: ClassName | undefined): Promise<ExplainResponse> {
    const t0 = performance.now();
    // decompression bombs: the pixel count from the header, before anything is decoded
    try {
      await readImageHeader(data, { file: name, maxPixels });
    } catch (e) {
      if (isCovidNetError(e) && e.code === 'E_TOO_LARGE') throw new HttpError(413, e.code, e.reason);
      throw e;
    }
    const [r] = await explainer.explainFiles([{ name, data }], { target, contrast });
    if (!r) throw new Error('no result');
    if (!isExplained(r)) throw new HttpError(400, r.code, r.error);
    // target defaulted to the prediction, which is the contrast class: the map would be all zero
    if (contrast !== undefined && r.target === contrast) throw new HttpError(400, 'E_OPTION', `contrast ${contrast} is the predicted class explained: choose another class to contrast with`);
    const png = await overlayPng(r, info.model);
    const scores = Object.fromEntries(info.classes.map((c, j) => [c, Math.round(r.scores[j]! * 1e4) / 1e4])) as Record<ClassName, number>;
    return {
      file: name,
      predicted: r.predicted,
      scores,
      score_kind: info.scores,
      calibrated: r.calibrated,
      ood_score: r.ood_score,
      ood_threshold: r.ood_threshold,
      in_distribution: r.in_distribution,
      target: r.target,
      contrast: contrast ?? null,
      method: r.method,
      versus: r.versus,
      flat: r.flat,
      peak: r.peak,
      border_mass: r.border_mass,
      width: r.image.width,
      height: r.image.height,
      overlay: `data:image/png;base64,${png.toString('base64')}`,
      seconds: Math.round(performance.now() - t0) / 1000,
      notice: RESEARCH_NOTICE,
    };
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    checkHost(req.headers.host, host);
    checkOrigin(req.headers.origin, req.headers.host);
    const url = parseTarget(req.url);
    const read = req.method === 'GET' || req.method === 'HEAD';
    const file = read ? site.get(url.pathname === '/' ? '/index.html' : url.pathname) : undefined;
    if (file) return send(res, 200, file.data, file.type);
    if (url.pathname === '/api/info' && read) return sendJson(res, 200, info);
    if (url.pathname === '/api/explain') {
      if (req.method !== 'POST') throw new HttpError(405, 'E_METHOD', 'POST the image file as the request body', { allow: 'POST' });
      const target = classParam(url, 'target', info.classes);
      const contrast = classParam(url, 'contrast', info.classes);
      if (contrast !== undefined && info.model !== 'siamese') throw new HttpError(400, 'E_OPTION', 'contrast needs a siamese run');
      if (contrast !== undefined && contrast === target) throw new HttpError(400, 'E_OPTION', 'contrast must differ from target');
      const name = fileNameHeader(req.headers['x-file-name']);
      const declared = declaredLength(req.headers['content-length']);
      if (declared !== undefined && declared > maxBytes) throw new HttpError(413, 'E_TOO_LARGE', `upload of ${declared} bytes is over the ${maxBytes}-byte limit`);
      const ticket = work.tryEnter();
      if (!ticket) throw new HttpError(503, 'E_BUSY', `busy: ${work.size} uploads are being explained or waiting; try again in a moment`, { 'retry-after': '2' });
      // a client that leaves while waiting gives its place up
      res.once('close', ticket.cancel);
      let release: () => void;
      try {
        release = await ticket.ready;
      } catch {
        return; // cancelled: nobody is waiting for the answer
      }
      let body: Buffer | undefined;
      try {
        body = await readBody(req, maxBytes, declared, takeBuffer);
        return sendJson(res, 200, await explain(name, body, target, contrast));
      } finally {
        // nothing holds the upload once it is answered (decoding and explaining are awaited)
        if (declared !== undefined) giveBuffer(body);
        release();
      }
    }
    const shown = url.pathname.length > 80 ? `${url.pathname.slice(0, 80)}…` : url.pathname;
    throw new HttpError(404, 'E_NOT_FOUND', `no such page: ${String(req.method).slice(0, 16)} ${shown}`);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) return res.destroy();
      if (e instanceof HttpError) return sendJson(res, e.status, { code: e.code, error: e.message }, e.headers);
      // bad images are the user's input: 400 with our code; anything else is ours: 500
      // the page shows the file name already
      if (isCovidNetError(e)) return sendJson(res, 400, { code: e.code, error: e.reason });
      sendJson(res, 500, { code: 'E_INTERNAL', error: e instanceof Error ? e.message : String(e) });
    });
  });
  // the whole request, the wait in the queue included, within two minutes (Node's default: five)
  server.requestTimeout = 120_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    explainer.close();
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw optionError('--port', 'a free port (or 0 for any)', `${port}, already in use`);
    if (code === 'EACCES') throw optionError('--port', 'a port this user may open (1024 or above)', port);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw optionError('--host', 'an address of this computer', host);
    throw new CovidNetError('E_INTERNAL', `cannot listen on ${host}:${port} (${code ?? String(e)})`, { cause: e });
  }
  const bound = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown === '0.0.0.0' ? '127.0.0.1' : shown}:${bound}/`,
    info,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          clearTimeout(spareTimer);
          spare = undefined;
          explainer.close();
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
