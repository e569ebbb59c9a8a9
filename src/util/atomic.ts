/**
 * Atomic file writes: write a temporary file in the same folder, then rename it over the target,
 * so a killed process leaves either the old or the new file, never half of one.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';

export interface AtomicWriteOptions {
  /**
   * Flush the data to disk before the rename (default true), so a crash of the machine, not only
   * of the process, keeps the old or the new file. Caches and regenerable outputs written by the
   * thousand pass false: an fsync per file would dominate their cost.
   */
  sync?: boolean;
}

export async function writeFileAtomic(file: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    if (opts.sync !== false) await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
