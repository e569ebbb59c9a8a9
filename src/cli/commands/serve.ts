/** `covidnet serve --run RUN`: a local web page for predictions with Grad-CAM (thin layer over src/serve). */
import type { Command } from 'commander';
import { backendOption, threadsOption } from '../options.js';
import { numberOption } from '../../config.js';

interface ServeCliOptions {
  run?: string;
  port: number;
  host: string;
  backend?: string;
  threads?: number;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('local web page: drop a chest X-ray, get the prediction and its Grad-CAM (the image stays on this computer)')
    .option('--run <run>', 'run folder')
    .option('--port <n>', 'port (0 = any free port)', numberOption('--port', 'int'), 8080)
    .option('--host <address>', 'address to listen on; the default serves this computer only', '127.0.0.1')
    .addOption(backendOption())
    .addOption(threadsOption())
    .option('--json', 'print the address as one JSON line')
    .action(async (o: ServeCliOptions) => {
      const { optionError } = await import('../../errors.js');
      const { RESEARCH_NOTICE } = await import('../../types.js');
      if (!o.run) throw optionError('--run', 'a run folder', o.run);
      const { startServer, isLoopback } = await import('../../serve/index.js');
      const s = await startServer({ run: o.run, port: o.port, host: o.host, backend: o.backend, threads: o.threads });
      if (o.json) {
        process.stdout.write(JSON.stringify({ url: s.url, ...s.info }) + '\n');
      } else {
        const lines = [`covidnet: serving ${s.info.model} run ${o.run} at ${s.url} (Ctrl-C to stop)`];
        if (!isLoopback(o.host)) lines.push(`covidnet: listening on ${o.host}: other computers on the network can reach this page and send it images`);
        lines.push(RESEARCH_NOTICE);
        process.stdout.write(lines.join('\n') + '\n');
      }
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void s.close().then(resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}
