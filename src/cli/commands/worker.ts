/**
 * `covidnet worker`: run experiment cells from a Redis job queue (queue-worker.ts). Start any
 * number on machines that see the experiment folder and the data at the same paths.
 */
import type { Command } from 'commander';
import { numberOption } from '../../config.js';
import { backendOption, cacheDirOption, threadsOption } from '../options.js';

interface WorkerCliOptions {
  redis?: string;
  queue?: string;
  concurrency?: number;
  threads?: number;
  backend?: string;
  cacheDir?: string;
  lockSeconds?: number;
}

export function register(program: Command): void {
  program
    .command('worker')
    .description('take experiment cells from a Redis job queue (covidnet experiment … --executor queue) and run them: train, evaluate, audit')
    .option('--redis <url>', 'Redis URL: redis://[:password@]host:port[/db], rediss:// for TLS (default $COVIDNET_REDIS)')
    .option('--queue <name>', 'queue name (the coordinator\'s --queue)', 'covidnet')
    .option('--concurrency <n>', 'cells at once, one child process each', numberOption('--concurrency', 'int'), 1)
    .addOption(threadsOption('threads per cell'))
    .addOption(backendOption())
    .addOption(cacheDirOption())
    .option('--lock-seconds <s>', 'how long a cell\'s lock lasts unrenewed: a killed worker\'s cell goes to another worker after about this long', numberOption('--lock-seconds', 'float'), 30)
    .action(async (o: WorkerCliOptions) => {
      const { optionError } = await import('../../errors.js');
      const redis = o.redis ?? process.env.COVIDNET_REDIS;
      if (!redis) throw optionError('--redis', 'a Redis URL (or $COVIDNET_REDIS)', redis);
      const { startQueueWorker } = await import('../../workflows/experiment/queue-worker.js');
      // a worker is a service: its one-line events go to stderr, piped or not (a log file)
      const w = await startQueueWorker({
        redis,
        queue: o.queue,
        concurrency: o.concurrency,
        threads: o.threads,
        backend: o.backend,
        cacheDir: o.cacheDir,
        lockSeconds: o.lockSeconds,
        log: (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`),
      });
      const onSignal = () => {
        process.stderr.write(`${new Date().toISOString()} worker ${w.name}: stopping; running cells go back to the queue\n`);
        void w.stop();
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      await w.finished;
    });
}
