/**
 * Reading files from outside: only regular files, and only up to a size limit, both checked on the
 * open file before any byte is read (a FIFO would block a read forever, /dev/zero would never
 * end). The open is non-blocking, so that opening a FIFO with no writer returns at once instead of
 * waiting for one. Errors are CovidNetError naming the file, or Node's system errors (ENOENT, ...)
 * for the caller to word.
 */
import { closeSync, constants as fsConstants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { CovidNetError } from '../errors.js';

/** What a file that is not a regular file is, for the message that refuses it. */
export function fileKind(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

/** The reason a non-regular file is not read (one wording for the decoder and the loaders). */
export function notRegularReason(st: Stats): string {
  const kind = fileKind(st);
  return kind === 'a directory' ? 'is a directory, not an image' : `is ${kind}, not a regular file: not read`;
}

function checkStat(st: Stats, name: string, maxBytes: number): number {
  if (!st.isFile()) throw new CovidNetError('E_FORMAT_UNKNOWN', notRegularReason(st), { file: name });
  if (st.size > maxBytes) throw new CovidNetError('E_TOO_LARGE', `file of ${st.size} bytes is over the ${maxBytes}-byte limit`, { file: name });
  return st.size;
}

const OPEN_FLAGS = fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0);

export async function readRegularFile(name: string, maxBytes: number): Promise<Buffer> {
  const fh = await open(name, OPEN_FLAGS);
  try {
    const size = checkStat(await fh.stat(), name, maxBytes);
    const buf = Buffer.allocUnsafe(size);
    let n = 0;
    while (n < size) {
      const { bytesRead } = await fh.read(buf, n, size - n, n);
      if (bytesRead === 0) break; // the file shrank while we read it
      n += bytesRead;
    }
    return n === size ? buf : buf.subarray(0, n);
  } finally {
    await fh.close();
  }
}

export function readRegularFileSync(name: string, maxBytes: number): Buffer {
  const fd = openSync(name, OPEN_FLAGS);
  try {
    const size = checkStat(fstatSync(fd), name, maxBytes);
    const buf = Buffer.allocUnsafe(size);
    let n = 0;
    while (n < size) {
      const r = readSync(fd, buf, n, size - n, n);
      if (r === 0) break;
      n += r;
    }
    return n === size ? buf : buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}
