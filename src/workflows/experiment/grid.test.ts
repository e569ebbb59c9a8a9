import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareNets, expandGrid, parsePerClass, parseSeeds, type GridSpec } from './grid.js';

const base = (over: Partial<GridSpec> = {}): GridSpec => ({ kind: 'compare', data: 'd', nets: compareNets(undefined, { single: 7, siamese: 3 }), seeds: [1, 2, 3], splitSeeds: [1], train: { size: 64 }, ...over });

test('compare grid: one cell per net and seed, paired cells adjacent, all on one split', () => {
  const cells = expandGrid(base());
  assert.deepEqual(cells.map((c) => c.id), ['single/seed-1', 'siamese/seed-1', 'single/seed-2', 'siamese/seed-2', 'single/seed-3', 'siamese/seed-3']);
  assert.ok(cells.every((c) => c.config.splitSeed === 1 && c.config.size === 64 && c.config.data === 'd'));
  assert.deepEqual(cells.map((c) => c.config.seed), [1, 1, 2, 2, 3, 3]);
  assert.deepEqual(cells.map((c) => [c.config.model, c.config.epochs]), [['single', 7], ['siamese', 3], ['single', 7], ['siamese', 3], ['single', 7], ['siamese', 3]]);
  assert.equal(cells[1]!.config.recipe, 'contrastive');
  // --recipes adds a net per recipe; --split-seeds varies the split and names it in the id
  const more = expandGrid(base({ nets: compareNets(['contrastive', 'study'], {}), seeds: [4], splitSeeds: [1, 2] }));
  assert.deepEqual(more.map((c) => c.id), ['split-1/single/seed-4', 'split-1/siamese/seed-4', 'split-1/siamese-study/seed-4', 'split-2/single/seed-4', 'split-2/siamese/seed-4', 'split-2/siamese-study/seed-4']);
  assert.deepEqual(more.map((c) => c.splitSeed), [1, 1, 1, 2, 2, 2]);
});

test('scarcity grid: a cell per size, net and seed; all = no subset', () => {
  const cells = expandGrid(base({ kind: 'scarcity', perClass: [5, 20, null], seeds: [1, 2] }));
  assert.equal(cells.length, 3 * 2 * 2);
  assert.deepEqual(cells.slice(0, 4).map((c) => c.id), ['single/n-5/seed-1', 'siamese/n-5/seed-1', 'single/n-5/seed-2', 'siamese/n-5/seed-2']);
  assert.equal(cells[0]!.config.perClass, 5);
  assert.equal(cells.at(-1)!.id, 'siamese/n-all/seed-2');
  assert.equal(cells.at(-1)!.config.perClass, undefined);
});

test('seed and size lists', () => {
  assert.deepEqual(parseSeeds('--seeds', '3'), [1, 2, 3]);
  assert.deepEqual(parseSeeds('--seeds', '4,9'), [4, 9]);
  assert.throws(() => parseSeeds('--seeds', '0'), /--seeds/);
  assert.throws(() => parseSeeds('--seeds', '1,1'), /without repeats/);
  assert.throws(() => parseSeeds('--seeds', 'a'), /--seeds/);
  assert.deepEqual(parsePerClass('5,10,all'), [5, 10, null]);
  assert.throws(() => parsePerClass('10,5'), /increasing/);
  assert.throws(() => parsePerClass('0'), /--per-class/);
  assert.throws(() => parsePerClass('all,all'), /--per-class/);
  assert.throws(() => expandGrid(base({ nets: [] })), /at least one net/);
});
