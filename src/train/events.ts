/** Progress events of a training run, in the order they come (the CLI renders them; --json prints them). */
import type { BackendChoice } from '../backend/index.js';
import type { EpochRecord } from '../run/files.js';
import type { PrepareProgress } from './data.js';

export type TrainEvent =
  | ({ type: 'prepare' } & PrepareProgress)
  | { type: 'ready'; backend: BackendChoice; counts: Record<'train' | 'val' | 'test', number>; failed: number; resumedFrom: number; epochs: number }
  | { type: 'epoch-start'; epoch: number; epochs: number; steps: number; samples: number }
  | { type: 'step'; epoch: number; step: number; steps: number; samples: number; loss: number; tensors: number }
  | { type: 'validating'; epoch: number }
  | { type: 'epoch'; record: EpochRecord }
  | { type: 'templates'; counts: number[] };
