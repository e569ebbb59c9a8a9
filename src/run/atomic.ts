/** Run-folder writes: atomic and flushed (src/util/atomic.ts). */
import { randomBytes } from 'node:crypto';
import { writeFileAtomic } from '../util/atomic.js';

export { writeFileAtomic };

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
}

/** A short random tag for content files referenced by a pointer file (model.json, checkpoint.json). */
export function fileTag(): string {
  return randomBytes(4).toString('hex');
}
