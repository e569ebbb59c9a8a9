/** CLI contract of train / evaluate / predict / search: error paths and a tiny run through the real binary. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSynthDataset } from '../../data/index.js';
import { epochLine } from './train.js';

const BIN = fileURLToPath(new URL('../../../bin/covidnet.js', import.meta.url));
let dir = '';
let data = '';

function cli(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, COVIDNET_CACHE: join(dir, 'cache') } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'covidnet-cli-'));
  data = join(dir, 'data');
  await writeSynthDataset({ out: data, perClass: 8, imageSize: 40, seed: 4, shortcuts: false });
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('epoch line: val loss when the record has it, unchanged for old records', () => {
  const r = { epoch: 3, loss: 0.5, val_accuracy: 0.75, val_metric: 'accuracy' as const, best: true, steps: 2, samples: 16, seconds: 1.25, samples_per_second: 12.8, lr: 1e-4, batch: 8 };
  assert.equal(epochLine(r), 'epoch 3: loss 0.5000, val acc 0.750 (best), 16 samples in 1.3 s (12.8/s)');
  assert.equal(epochLine({ ...r, val_loss: 0.61234, train_accuracy: 0.8 }), 'epoch 3: loss 0.5000, val loss 0.6123, val acc 0.750 (best), 16 samples in 1.3 s (12.8/s)');
});

test('bad options name the parameter, the expected and the actual value, without a stack trace', () => {
  const cases: [string[], RegExp][] = [
    [['train', '--model', 'triple', '--data', data, '--out', join(dir, 'x')], /--model: expected one of single, siamese, got "triple"/],
    [['train', '--model', 'single', '--data', data, '--out', join(dir, 'x'), '--lr', 'abc'], /--lr: expected a number, got "abc"/],
    [['train', '--model', 'single', '--data', data, '--out', join(dir, 'x'), '--width', '6'], /--width: expected a multiple of 4, got 6/],
    [['train', '--model', 'single', '--data', data, '--out', join(dir, 'x'), '--epochs', '2.5'], /--epochs: expected an integer, got "2.5"/],
    [['train', '--model', 'single', '--out', join(dir, 'x')], /--data: expected a data source path/],
    [['train', '--model', 'single', '--data', data], /--out: expected a run folder/],
    [['evaluate', '--run', join(dir, 'nope'), '--data', data], /E_RUN.*config\.json is missing/],
    [['evaluate', '--run', join(dir, 'nope'), '--data', data, '--split', 'holdout'], /--split: expected train, val or test, got "holdout"/],
    [['predict', '--run', join(dir, 'nope'), 'a.png'], /E_RUN/],
    [['search', '--model', 'single', '--data', data, '--out', join(dir, 's'), '--lrs', '1e-3,abc'], /--lrs: expected a comma-separated list of positive numbers, got "1e-3,abc"/],
  ];
  for (const [args, re] of cases) {
    const r = cli(...args);
    assert.equal(r.code, 1, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'stack trace printed');
  }
});

test('option values are checked against one declaration: no hex, no absurd sizes, the same message on every command', () => {
  const cases: [string[], RegExp][] = [
    [['train', '--model', 'single', '--data', data, '--out', join(dir, 'x'), '--epochs', '0x2'], /\[E_OPTION\].*--epochs: expected an integer, got "0x2"/],
    [['train', '--model', 'single', '--data', data, '--out', join(dir, 'x'), '--batch', '1e9'], /\[E_OPTION\].*--batch: expected at most 4096, got 1000000000/],
    [['train', '--model', 'single', '--data', data, '--out', join(dir, 'x'), '--seed', '99999999999999999999'], /\[E_OPTION\].*--seed: expected an integer/],
    [['train', '--model', 'single', '--data', data, '--out', join(dir, 'x'), '--threads', '100000'], /\[E_OPTION\].*--threads: expected at most 256, got 100000/],
    [['predict', '--run', join(dir, 'x'), '--threads', '100000', 'a.png'], /\[E_OPTION\].*--threads: expected at most 256, got 100000/],
    [['explain', '--run', join(dir, 'x'), '--threads', '100000', 'a.png'], /\[E_OPTION\].*--threads: expected at most 256, got 100000/],
    [['predict', '--run', join(dir, 'x'), '--batch', '0', 'a.png'], /\[E_OPTION\].*--batch: expected at least 1, got 0/],
    [['evaluate', '--run', join(dir, 'x'), '--data', data, '--batch', '0'], /\[E_OPTION\].*--batch: expected at least 1, got 0/],
    [['explain', '--run', join(dir, 'x'), '--batch', '0', 'a.png'], /\[E_OPTION\].*--batch: expected at least 1, got 0/],
    [['train', '--bogus'], /^covidnet: error \[E_OPTION\]: unknown option '--bogus' \(see --help\)\n$/],
  ];
  for (const [args, re] of cases) {
    const r = cli(...args);
    assert.equal(r.code, 1, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
    assert.doesNotMatch(r.stderr, /Usage:/, 'usage printed');
  }
});

test('train --json → evaluate → predict through the CLI', async () => {
  const run = join(dir, 'run');
  const t = cli('train', '--model', 'single', '--data', data, '--out', run, '--size', '32', '--width', '4', '--fc', '8', '--epochs', '2', '--batch', '8', '--json');
  assert.equal(t.code, 0, t.stderr);
  const lines = t.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const epochs = lines.filter((l) => 'val_accuracy' in l);
  assert.equal(epochs.length, 2);
  for (const ep of epochs) {
    assert.ok(ep.train_accuracy >= 0 && ep.train_accuracy <= 1 && ep.train_metric === 'accuracy', JSON.stringify(ep));
    assert.ok(Number.isFinite(ep.val_loss) && ep.val_loss > 0, JSON.stringify(ep));
  }
  assert.equal(lines.at(-1).event, 'done');

  const e = cli('evaluate', '--run', run, '--data', data);
  assert.equal(e.code, 0, e.stderr);
  assert.match(e.stdout, /balanced accuracy/);
  assert.match(e.stdout, /not a medical device/);
  assert.match(e.stdout, /eval-data-test\.json/);

  const bad = join(dir, 'bad.png');
  await writeFile(bad, 'garbage');
  const img = join(data, 'images', 'normal');
  const { readdirSync } = await import('node:fs');
  const good = join(img, readdirSync(img)[0]!);
  const p = cli('predict', '--run', run, good, bad);
  assert.equal(p.code, 1, 'a failed file gives exit code 1');
  assert.match(p.stdout, new RegExp(`${good.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: (normal|pneumonia|COVID-19) \\(probabilities`));
  assert.match(p.stderr, /bad\.png: error \[E_/);
  assert.match(p.stdout, /not a medical device/);
  const pj = cli('predict', '--run', run, good, '--json');
  assert.equal(pj.code, 0);
  const obj = JSON.parse(pj.stdout.trim());
  assert.equal(obj.ok, true);
  assert.deepEqual(Object.keys(obj.scores), ['normal', 'pneumonia', 'COVID-19']);
});

test('demo --quick runs the whole pipeline and prints the comparison', () => {
  const r = cli('demo', '--quick', '--out', join(dir, 'demo'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /single \(argmax\)\s+siamese \(templates\)/);
  assert.match(r.stdout, /balanced accuracy/);
  assert.match(r.stdout, /not a medical device/);
});
