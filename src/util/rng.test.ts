import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRng, rngFromState, shuffleInPlace } from './rng.js';

test('rng is reproducible for a seed and resumable from its state', () => {
  const a = createRng(42);
  const b = createRng(42);
  for (let i = 0; i < 10; i++) assert.equal(a.next(), b.next());
  const saved = a.state();
  const x = [a.next(), a.next()];
  const c = rngFromState(saved);
  assert.deepEqual([c.next(), c.next()], x);
  const arr = shuffleInPlace([1, 2, 3, 4, 5], createRng(1));
  assert.deepEqual([...arr].sort(), [1, 2, 3, 4, 5]);
});
