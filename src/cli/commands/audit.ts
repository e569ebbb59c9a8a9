/** `covidnet audit`: the shortcut audit of a run (a thin layer over `auditRun` in src/evaluate). */
import type { Command } from 'commander';
import { backendOption, cacheDirOption, inferenceBatchOption, threadsOption } from '../options.js';

interface AuditCliOptions {
  run?: string;
  data?: string;
  batch?: number;
  backend?: string;
  threads?: number;
  cacheDir?: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('audit')
    .description("shortcut audit: how well the image source can be read from the run's embeddings (cross-validated linear probe, chance stated), the source-only baseline, and accuracy where class and source are not confounded")
    .option('--run <run>', 'run folder')
    .option('--data <src>', "the run's data source (needs a source column)")
    .addOption(inferenceBatchOption())
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(cacheDirOption())
    .option('--json', 'print the result as JSON')
    .action(async (o: AuditCliOptions) => {
      const { optionError } = await import('../../errors.js');
      if (!o.run) throw optionError('--run', 'a run folder', o.run);
      if (!o.data) throw optionError('--data', 'a data source path', o.data);
      const { auditRun } = await import('../../evaluate/audit.js');
      const { formatAudit } = await import('../../evaluate/format.js');
      const { writeJsonAtomic } = await import('../../run/atomic.js');
      const { join } = await import('node:path');
      const r = await auditRun({ run: o.run, data: o.data, batch: o.batch, backend: o.backend, threads: o.threads, cacheDir: o.cacheDir });
      await writeJsonAtomic(join(o.run, 'audit.json'), r);
      if (o.json) process.stdout.write(JSON.stringify(r) + '\n');
      else process.stdout.write(formatAudit(r) + `\nwritten: ${join(o.run, 'audit.json')}\n`);
    });
}
