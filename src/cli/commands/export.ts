/** `covidnet export web --run RUN --out SITE`: the run as a static web app (thin layer over src/web). */
import type { Command } from 'commander';

export function register(program: Command): void {
  const exp = program.command('export').description('export a run for use elsewhere');
  exp
    .command('web')
    .description('static web app of a run (no server: open SITE/index.html over any static HTTP server); images stay in the browser')
    .option('--run <run>', 'run folder')
    .option('--out <dir>', 'folder to write the site into')
    .option('--json', 'print the result as one JSON line')
    .action(async (o: { run?: string; out?: string; json?: boolean }) => {
      const { optionError } = await import('../../errors.js');
      const { RESEARCH_NOTICE } = await import('../../types.js');
      if (!o.run) throw optionError('--run', 'a run folder', o.run);
      if (!o.out) throw optionError('--out', 'a folder for the site', o.out);
      const { exportWeb } = await import('../../web/site.js');
      const r = await exportWeb({ run: o.run, out: o.out });
      if (o.json) process.stdout.write(JSON.stringify(r) + '\n');
      else process.stdout.write(`covidnet: wrote ${r.files.length} files (${(r.bytes / 1e6).toFixed(2)} MB) to ${r.out}; serve that folder over HTTP (e.g. python3 -m http.server -d ${r.out}) and open index.html\n${RESEARCH_NOTICE}\n`);
    });
  exp
    .command('bench')
    .description('size of a site, model load time and time to first prediction in headless Chromium (CPU 112/32/256 and study 224/128/1024 untrained nets)')
    .option('--backend <name>', 'force the page backend (webgl, wasm, cpu); default: the page chooses')
    .option('--json', 'print the results as JSON lines')
    .action(async (o: { backend?: string; json?: boolean }) => {
      const { benchWeb } = await import('../../web/bench.js');
      for (const r of await benchWeb({ backend: o.backend })) {
        process.stdout.write(o.json ? JSON.stringify(r) + '\n' : `${r.config} ${r.model}: site ${(r.bytes / 1e6).toFixed(2)} MB (model ${(r.modelBytes / 1e6).toFixed(2)} MB), backend ${r.backend}, model load ${r.loadSeconds.toFixed(2)} s, first prediction ${r.firstSeconds.toFixed(2)} s, second ${r.secondSeconds.toFixed(2)} s\n`);
      }
    });
}
