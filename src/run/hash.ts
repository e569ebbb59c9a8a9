/**
 * Content hash of a data source: SHA-256 over every item's relative path, label, patient, split
 * and the SHA-256 of its bytes, in a fixed order. Two runs with the same hash saw the same data.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { relative } from 'node:path';
import type { DatasetItem } from '../data/types.js';

async function fileSha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export async function datasetHash(root: string, items: readonly DatasetItem[]): Promise<string> {
  const rows = await Promise.all(
    items.map(async (it) => {
      const content = await fileSha256(it.file).catch(() => 'unreadable');
      return [relative(root, it.file), it.label, it.patientId, it.split ?? '', content].join('\t');
    }),
  );
  rows.sort();
  return createHash('sha256').update(rows.join('\n')).digest('hex');
}
