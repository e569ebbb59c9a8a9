/** Child process of a parallel experiment or a queue worker: runs the one cell it is sent and reports back over IPC. */
import { runCell } from './cell.js';
import type { WorkerMessage, WorkerRequest } from './executor.js';

let finished = false;
// the parent is gone (killed): stop training now rather than keep the run's lock from whoever takes the cell over
process.on('disconnect', () => {
  if (!finished) process.exit(1);
});

process.once('message', (req: WorkerRequest) => {
  const send = (m: WorkerMessage) => process.send?.(m);
  runCell(req.experiment, req.cell, { ...req.runtime, onEvent: (e) => e.type === 'epoch' && send({ type: 'epoch', record: e.record }) })
    .then((outcome) => {
      finished = true;
      send({ type: 'outcome', outcome });
      process.disconnect?.();
    })
    .catch((e: unknown) => {
      finished = true;
      process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
      process.disconnect?.();
    });
});
