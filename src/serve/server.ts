/**
 * `covidnet serve`: a local web page where a person drops a chest X-ray and gets the prediction
 * with its Grad-CAM explanation. The image goes to this process only (bound to 127.0.0.1 by
 * default) and is never written to disk; the page loads nothing from the network.
 *
 *   const s = await startServer({ run: 'runs/single', port: 8080 });
 *   console.log(s.url);  ...  await s.close();
 *
 * Routes: GET / (the page), GET /api/info (the run), POST /api/explain (body: the file's bytes;
 * query `target`, `contrast`; header `x-file-name`), all answers JSON except the page.
 * Node's own http module: three routes need no framework.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename } from 'node:path';
import { CovidNetError, isCovidNetError, optionError } from '../errors.js';
import { CLASSES, RESEARCH_NOTICE, isClassName, type ClassName } from '../types.js';
import { Explainer, isExplained, overlayPng } from '../explain/explain.js';
import { pageHtml } from './page.js';
import { runInfo, type RunInfo } from './run-info.js';

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
  /** Heat-map maximum in original pixels; null for an all-zero map. */
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
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

function send(res: http.ServerResponse, status: number, body: string | Buffer, type: string): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    // the page is self-contained: forbid every outside load, so images cannot leak through it
    'content-security-policy': "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'",
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  });
  res.end(body);
}

function sendJson(res: http.ServerResponse, status: number, v: unknown): void {
  send(res, status, JSON.stringify(v), 'application/json; charset=utf-8');
}

function readBody(req: http.IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > max) {
      reject(new HttpError(413, 'E_TOO_LARGE', `upload of ${declared} bytes is over the ${max}-byte limit`));
      req.resume();
      return;
    }
    const parts: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > max) {
        reject(new HttpError(413, 'E_TOO_LARGE', `upload is over the ${max}-byte limit`));
        req.destroy();
        return;
      }
      parts.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
    // a client that goes away mid-upload: settle instead of waiting forever
    req.on('close', () => {
      if (!req.complete) reject(new HttpError(400, 'E_FILE_TRUNCATED', 'upload interrupted'));
    });
  });
}

function classParam(url: URL, name: 'target' | 'contrast'): ClassName | undefined {
  const v = url.searchParams.get(name);
  if (v === null || v === '') return undefined;
  if (!isClassName(v)) throw new HttpError(400, 'E_OPTION', `${name} must be one of ${CLASSES.join(', ')}, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * Host header check against DNS rebinding: while we listen on loopback only, a page of another
 * site cannot reach us through a name that resolves to 127.0.0.1. Listening on a network address
 * is the user's explicit choice, and then any Host is accepted.
 */
function hostAllowed(req: http.IncomingMessage, host: string): boolean {
  if (!isLoopback(host)) return true;
  const h = req.headers.host;
  if (h === undefined) return false;
  const name = h.startsWith('[') ? h.slice(0, h.indexOf(']') + 1) : h.split(':')[0]!;
  return isLoopback(name);
}

export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw optionError('--port', 'an integer port in [0, 65535]', port);
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const explainer = await Explainer.open(opts.run, { backend: opts.backend, threads: opts.threads });
  const info = runInfo(explainer.runModel);
  const page = pageHtml(info);
  // one image at a time: Grad-CAM holds the model's graph, and two cores gain nothing from overlap
  let queue: Promise<unknown> = Promise.resolve();

  async function explain(name: string, data: Buffer, target: ClassName | undefined, contrast: ClassName | undefined): Promise<ExplainResponse> {
    if (contrast !== undefined && info.model !== 'siamese') throw new HttpError(400, 'E_OPTION', 'contrast needs a siamese run');
    if (contrast !== undefined && contrast === target) throw new HttpError(400, 'E_OPTION', 'contrast must differ from target');
    const t0 = performance.now();
    const [r] = await explainer.explainFiles([{ name, data }], { target, contrast });
    if (!r) throw new Error('no result');
    if (!isExplained(r)) throw new HttpError(400, r.code, r.error);
    // target defaulted to the prediction, which is the contrast class: the map would be all zero
    if (contrast !== undefined && r.target === contrast) throw new HttpError(400, 'E_OPTION', `contrast ${contrast} is the predicted class explained: choose another class to contrast with`);
    const png = await overlayPng(r, info.model);
    const scores = Object.fromEntries(CLASSES.map((c, j) => [c, Math.round(r.scores[j]! * 1e4) / 1e4])) as Record<ClassName, number>;
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
    if (!hostAllowed(req, host)) throw new HttpError(403, 'E_HOST', `requests must address this computer (${host}), not ${JSON.stringify(req.headers.host ?? '')}`);
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/' && req.method === 'GET') return send(res, 200, page, 'text/html; charset=utf-8');
    if (url.pathname === '/api/info' && req.method === 'GET') return sendJson(res, 200, info);
    if (url.pathname === '/api/explain') {
      if (req.method !== 'POST') throw new HttpError(405, 'E_METHOD', 'POST the image file as the request body');
      const target = classParam(url, 'target');
      const contrast = classParam(url, 'contrast');
      const raw = req.headers['x-file-name'];
      const name = typeof raw === 'string' && raw !== '' ? basename(decodeURIComponent(raw)) : 'upload';
      const body = await readBody(req, maxBytes);
      const job = queue.then(() => explain(name, body, target, contrast));
      queue = job.catch(() => undefined);
      return sendJson(res, 200, await job);
    }
    throw new HttpError(404, 'E_NOT_FOUND', `no such page: ${req.method} ${url.pathname}`);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) return res.destroy();
      if (e instanceof HttpError) return sendJson(res, e.status, { code: e.code, error: e.message });
      // bad images are the user's input: 400 with our code; anything else is ours: 500
      // the page shows the file name already
      if (isCovidNetError(e)) return sendJson(res, 400, { code: e.code, error: e.reason });
      sendJson(res, 500, { code: 'E_INTERNAL', error: e instanceof Error ? e.message : String(e) });
    });
  });
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
          explainer.close();
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}

/** True when `host` names this computer only. */
export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}
