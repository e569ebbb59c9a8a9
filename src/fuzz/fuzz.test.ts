/**
 * The CI smoke of the fuzz harness (`make fuzz` runs the same targets for minutes): each target
 * for a few hundred generated inputs with a fixed seed, so a regression in any parser of outside
 * input shows up in `make test` within seconds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TARGETS, fuzz } from './targets.js';

const RUNS: Record<string, number> = { dicom: 150, 'serve-http': 120, png: 300, jpeg: 300 };

for (const t of TARGETS) {
  test(`fuzz smoke: ${t.name} refuses bad input cleanly (${RUNS[t.name] ?? 500} runs)`, { timeout: 120_000 }, async () => {
    const r = await fuzz(t, { numRuns: RUNS[t.name] ?? 500, seed: 42, timeoutMs: 20_000 });
    assert.equal(r.failure, undefined, `${t.name}: ${r.failure?.message}\n  input: ${r.failure?.counterexample}\n  replay: node dist/fuzz/main.js --target ${t.name} --seed ${r.seed}`);
    assert.ok(r.executions >= (RUNS[t.name] ?? 500), `${r.executions} executions`);
  });
}
