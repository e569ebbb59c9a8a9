/** Worker thread of `prepareImages`: prepares the jobs it is sent, one result message per job. */
import { parentPort } from 'node:worker_threads';
import sharp from 'sharp';
import { prepareOne, type PrepareJob } from './prepare-one.js';

// one libvips thread per worker: the parallelism comes from the workers
sharp.concurrency(1);

parentPort?.on('message', (job: PrepareJob) => {
  void prepareOne(job, { syncRead: true }).then((r) => {
    if (r.ok) {
      // copy into an own buffer (cache reads are views into a larger pooled one) and transfer it
      const px = r.pixels.byteOffset === 0 && r.pixels.byteLength === r.pixels.buffer.byteLength ? r.pixels : r.pixels.slice();
      parentPort!.postMessage({ ...r, pixels: px }, [px.buffer as ArrayBuffer]);
    } else {
      parentPort!.postMessage(r);
    }
  });
});
