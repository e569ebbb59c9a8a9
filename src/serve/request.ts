/**
 * The parts of `covidnet serve`'s request handling that read what the client sent, as pure
 * functions (the fuzz tests call them with arbitrary input): the request target, the `Host` and
 * `Origin` checks, the file name header and the class parameters. Each either returns a value or
 * throws an `HttpError` (status, stable code, one-line message); nothing else.
 */
import { basename } from 'node:path';
import { isClassName, type ClassName } from '../types.js';

export class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
    this.name = 'HttpError';
  }
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** True when `host` names this computer only. */
export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host.toLowerCase()) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** A client's value for a message: printable, at most 60 characters. */
export function shownValue(v: string): string {
  const clean = v.replace(/[^\x20-\x7e]/g, '?');
  return JSON.stringify(clean.length > 60 ? `${clean.slice(0, 60)}…` : clean);
}

/** The host name of a Host header value (`name:port`, `[v6]:port`), lower case. */
function hostName(h: string): string {
  return (h.startsWith('[') ? h.slice(0, h.indexOf(']') + 1) : h.split(':')[0]!).toLowerCase();
}

/**
 * Host header check against DNS rebinding: while we listen on loopback only, a page of another
 * site cannot reach us through a name that resolves to 127.0.0.1. Listening on a network address
 * is the user's explicit choice, and then any Host is accepted.
 */
export function checkHost(hostHeader: string | undefined, listenHost: string): void {
  if (!isLoopback(listenHost)) return;
  if (hostHeader === undefined || !isLoopback(hostName(hostHeader))) {
    throw new HttpError(403, 'E_HOST', `requests must address this computer (${listenHost}), not ${shownValue(hostHeader ?? '')}`);
  }
}

/**
 * Origin check against cross-site requests: a page of another site that posts to this server
 * (browsers send its origin with every POST and cross-origin fetch) is refused, whatever address
 * the server listens on. Requests without an Origin (curl, scripts, same-origin GETs) pass; a
 * present Origin must be this server itself, the same host and port as the Host header. "null"
 * (sandboxed frames, file: pages) is refused.
 */
export function checkOrigin(originHeader: string | undefined, hostHeader: string | undefined): void {
  if (originHeader === undefined) return;
  let ok = false;
  if (originHeader !== 'null' && hostHeader !== undefined) {
    try {
      const u = new URL(originHeader);
      ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.host === new URL(`http://${hostHeader}`).host;
    } catch {
      ok = false;
    }
  }
  if (!ok) throw new HttpError(403, 'E_ORIGIN', `requests from another site are refused (Origin ${shownValue(originHeader)} is not this server)`);
}

/** The path and query of the request target (origin form `/path?query` only). */
export function parseTarget(raw: string | undefined): URL {
  const t = raw ?? '/';
  if (!t.startsWith('/')) throw new HttpError(400, 'E_REQUEST', `request target must be a path, got ${shownValue(t)}`);
  try {
    // a fixed origin in front: "//host/x" stays a path, it cannot name another host
    return new URL(`http://localhost${t}`);
  } catch {
    throw new HttpError(400, 'E_REQUEST', `malformed request target ${shownValue(t)}`);
  }
}

export const MAX_FILE_NAME = 200;

/**
 * The upload's name from `x-file-name` (URI-encoded by the page): the last path component only,
 * control characters replaced, at most MAX_FILE_NAME characters; "upload" when absent.
 */
export function fileNameHeader(raw: string | string[] | undefined): string {
  const v = Array.isArray(raw) ? raw[0] : raw;
  if (v === undefined || v === '') return 'upload';
  let decoded: string;
  try {
    decoded = decodeURIComponent(v);
  } catch {
    throw new HttpError(400, 'E_REQUEST', 'x-file-name must be URI-encoded (encodeURIComponent of the file name)');
  }
  // Windows separators too: a name is never a path
  const name = basename(decoded.replace(/\\/g, '/')).replace(/[\u0000-\u001f\u007f-\u009f]/g, '_');
  const cut = name.length > MAX_FILE_NAME ? name.slice(0, MAX_FILE_NAME) : name;
  return cut === '' || cut === '.' || cut === '..' ? 'upload' : cut;
}

/** `target` / `contrast` query parameters: a class name or absent. */
export function classParam(url: URL, name: 'target' | 'contrast', classes: readonly ClassName[]): ClassName | undefined {
  const v = url.searchParams.get(name);
  if (v === null || v === '') return undefined;
  if (!isClassName(v, classes)) throw new HttpError(400, 'E_OPTION', `${name} must be one of ${classes.join(', ')}, got ${shownValue(v)}`);
  return v;
}

/** A declared Content-Length: a number of bytes, or undefined (chunked); malformed ones refused. */
export function declaredLength(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d{1,15}$/.test(raw.trim())) throw new HttpError(400, 'E_REQUEST', `malformed content-length ${shownValue(raw)}`);
  return Number(raw.trim());
}
