/**
 * The work in flight of `covidnet serve`, bounded: `concurrency` jobs run, at most `depth` wait,
 * and a request beyond that is refused at once (503) instead of holding its upload in memory.
 * A waiting request has not been read yet (its body stays in the socket, held back by TCP), so
 * memory holds the uploads of running jobs only.
 */
export interface Ticket {
  /** Resolves with the release function once the job may run; rejects when cancelled first. */
  ready: Promise<() => void>;
  /** Leave the queue (the client went away); a no-op once running. */
  cancel(): void;
}

export class WorkQueue {
  private running = 0;
  private readonly waiting: { start: () => void; fail: (e: Error) => void }[] = [];

  constructor(readonly concurrency: number, readonly depth: number) {}

  /** Jobs running and waiting. */
  get size(): number {
    return this.running + this.waiting.length;
  }

  /** A place in the queue, or undefined when it is full. */
  tryEnter(): Ticket | undefined {
    if (this.running < this.concurrency) {
      this.running++;
      return { ready: Promise.resolve(this.releaser()), cancel: () => undefined };
    }
    if (this.waiting.length >= this.depth) return undefined;
    let entry!: { start: () => void; fail: (e: Error) => void };
    const ready = new Promise<() => void>((resolve, reject) => {
      entry = { start: () => resolve(this.releaser()), fail: reject };
    });
    this.waiting.push(entry);
    return {
      ready,
      cancel: () => {
        const i = this.waiting.indexOf(entry);
        if (i < 0) return;
        this.waiting.splice(i, 1);
        entry.fail(new Error('cancelled'));
      },
    };
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.waiting.shift();
      // the slot passes to the next job without being freed in between
      if (next) next.start();
      else this.running--;
    };
  }
}
