/** Child process of a parallel experiment: runs the one cell it is sent and reports back over IPC. */
import { runCell } from './cell.js';
import type { WorkerMessage, WorkerRequest } from './runner.js';

process.once('message', (req: WorkerRequest) => {
  const send = (m: WorkerMessage) => process.send?.(m);
  runCell(req.experiment, req.cell, { ...req.runtime, onEvent: (e) => e.type === 'epoch' && send({ type: 'epoch', record: e.record }) })
    .then((outcome) => {
      send({ type: 'outcome', outcome });
      process.disconnect?.();
    })
    .catch((e: unknown) => {
      process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
      process.disconnect?.();
    });
});
