/** Progress events of a training run, in the order they come (the CLI renders them; --json prints them). */
import type { BackendChoice } from '../backend/index.js';
import type { EpochRecord } from '../run/files.js';
import type { PrepareProgress, SkipSummary } from './data.js';

export type TrainEvent =
  | ({ type: 'prepare' } & PrepareProgress)
  | {
      type: 'ready';
      backend: BackendChoice;
      /** Images in each split, unreadable ones excluded. */
      counts: Record<'train' | 'val' | 'test', number>;
      /** Unreadable images (left out of every split). */
      failed: number;
      /** Everything left out, with where the full list is. */
      skipped: SkipSummary & { listedIn: string };
      resumedFrom: number;
      epochs: number;
      /** What the user should know: ignored options, the runtime a resumed run uses, a stale lock taken over. */
      notes: string[];
    }
  | { type: 'epoch-start'; epoch: number; epochs: number; steps: number; samples: number }
  | { type: 'step'; epoch: number; step: number; steps: number; samples: number; loss: number; tensors: number }
  | { type: 'validating'; epoch: number }
  | { type: 'epoch'; record: EpochRecord }
  | { type: 'templates'; counts: number[] };
