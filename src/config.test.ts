import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRunConfig } from './config.js';

test('defaults reproduce the study', () => {
  const s = parseRunConfig({ model: 'single', data: 'd', out: 'o' });
  assert.equal(s.size, 224);
  assert.equal(s.width, 128);
  assert.equal(s.fc, 1024);
  assert.equal(s.epochs, 100);
  assert.equal(s.batch, 16);
  assert.equal(s.lr, 1e-4);
  assert.equal(s.valFraction, 0.2);
  const m = parseRunConfig({ model: 'siamese', data: 'd', out: 'o' });
  assert.equal(m.epochs, 50);
  assert.equal(m.batch, 32);
  assert.equal(m.pairs, 12000);
  assert.equal(m.oneShotTrials, 129);
  assert.equal(m.recipe, 'contrastive');
});

test('bad values name the flag, the expectation and the value', () => {
  assert.throws(() => parseRunConfig({ model: 'triple', data: 'd', out: 'o' }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'E_OPTION');
    assert.match(e.message, /--model: expected one of single, siamese, got "triple"/);
    return true;
  });
  assert.throws(() => parseRunConfig({ model: 'single', data: 'd', out: 'o', width: 30 }), /--width: expected a multiple of 4, got 30/);
  assert.throws(() => parseRunConfig({ model: 'single', data: 'd', out: 'o', valFraction: 1.5 }), /--val-fraction: expected less than 1, got 1.5/);
  assert.throws(() => parseRunConfig({ model: 'single', data: 'd', out: 'o', lr: -1 }), /--lr/);
  assert.throws(() => parseRunConfig({ model: 'single', out: 'o' }), /--data: expected string, got undefined/);
});
