/**
 * `make fuzz`: every target of ./targets.ts for a set time, each in its own process (so a native
 * abort or an out-of-memory ends that target only and is reported as a crash), one after the
 * other. Prints executions per target and what was found; exit status 1 when anything was.
 *
 *   node dist/fuzz/main.js [--seconds 30] [--target png,jpeg] [--seed N] [--runs N] [--json]
 *
 * A failure prints fast-check's seed and path: `--target T --seed S` replays the same inputs, and
 * the shrunk counterexample goes into a regression test beside the parser.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { TARGETS, fuzz, type FuzzResult } from './targets.js';

const self = fileURLToPath(import.meta.url);

async function child(name: string, seconds: number | undefined, runs: number | undefined, seed: number | undefined): Promise<void> {
  const t = TARGETS.find((x) => x.name === name);
  if (!t) throw new Error(`no fuzz target ${name}`);
  const r = await fuzz(t, { ...(seconds !== undefined ? { seconds } : {}), ...(runs !== undefined ? { numRuns: runs } : {}), ...(seed !== undefined ? { seed } : {}) });
  process.send!(r);
  // workers, sockets or sharp's threads must not keep a finished target alive
  setTimeout(() => process.exit(0), 100).unref();
}

function runTarget(name: string, seconds: number, runs: number | undefined, seed: number | undefined): Promise<FuzzResult> {
  return new Promise((resolve) => {
    const args = ['--child', name, '--seconds', String(seconds), ...(runs !== undefined ? ['--runs', String(runs)] : []), ...(seed !== undefined ? ['--seed', String(seed)] : [])];
    const p = fork(self, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--max-old-space-size=2048'] });
    let result: FuzzResult | undefined;
    const t0 = Date.now();
    // the time budget, setup and shrinking included: beyond it the target is hanging
    const watchdog = setTimeout(() => p.kill('SIGKILL'), (seconds + 120) * 1000);
    p.on('message', (m) => (result = m as FuzzResult));
    p.on('exit', (code, signal) => {
      clearTimeout(watchdog);
      if (result) return resolve(result);
      const secs = Math.round((Date.now() - t0) / 100) / 10;
      const why = signal === 'SIGKILL' && secs >= seconds + 120 ? 'hang: killed after the time budget' : `process died (${signal ?? `exit code ${code}`})`;
      resolve({ target: name, executions: 0, seconds: secs, seed: seed ?? -1, failure: { message: why, counterexample: 'replay with the same --seed to find the input' } });
    });
  });
}

async function main(): Promise<void> {
  const { values: o } = parseArgs({
    options: { child: { type: 'string' }, seconds: { type: 'string', default: '30' }, target: { type: 'string' }, seed: { type: 'string' }, runs: { type: 'string' }, json: { type: 'boolean' } },
  });
  const seconds = Number(o.seconds);
  const runs = o.runs === undefined ? undefined : Number(o.runs);
  const seed = o.seed === undefined ? undefined : Number(o.seed);
  if (o.child) return child(o.child, seconds, runs, seed);
  const names = o.target ? o.target.split(',') : TARGETS.map((t) => t.name);
  for (const n of names) if (!TARGETS.some((t) => t.name === n)) throw new Error(`no fuzz target ${n} (targets: ${TARGETS.map((t) => t.name).join(', ')})`);
  const results: FuzzResult[] = [];
  for (const n of names) {
    const r = await runTarget(n, seconds, runs, seed);
    results.push(r);
    if (!o.json) process.stdout.write(`${r.target.padEnd(14)} ${String(r.executions).padStart(9)} executions in ${r.seconds}s (seed ${r.seed})${r.failure ? `  FOUND: ${r.failure.message}\n    input: ${r.failure.counterexample}${r.failure.path ? `\n    replay: --target ${r.target} --seed ${r.seed} (path ${r.failure.path})` : ''}` : '  no crash'}\n`);
  }
  const total = results.reduce((a, r) => a + r.executions, 0);
  const found = results.filter((r) => r.failure);
  if (o.json) process.stdout.write(JSON.stringify({ total, results }) + '\n');
  else process.stdout.write(`total ${total} executions, ${found.length ? `${found.length} target(s) found something` : 'nothing found'}\n`);
  process.exitCode = found.length ? 1 : 0;
}

await main();
