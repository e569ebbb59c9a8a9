/** The data commands end to end through bin/covidnet.js (compiled CLI), on generated files. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = path.join(repo, 'bin/covidnet.js');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'covidnet-cli-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: repo });

test('covidnet synth → data inspect → preprocess', async () => {
  const out = path.join(tmp, 'synth');
  const s = run('synth', '--out', out, '--per-class', '4', '--image-size', '48', '--seed', '2', '--json');
  assert.equal(s.status, 0, s.stderr);
  assert.equal(JSON.parse(s.stdout).out, out);

  const i = run('data', 'inspect', out, '--json', '--decode');
  assert.equal(i.status, 0, i.stderr);
  const rep = JSON.parse(i.stdout) as { images: number; unreadable: unknown[]; patientOverlap: string | null; size: { maxWidth: number } };
  assert.equal(rep.images, 12);
  assert.deepEqual(rep.unreadable, []);
  assert.equal(rep.patientOverlap, null);
  assert.equal(rep.size.maxWidth, 48);
  const human = run('data', 'inspect', out);
  assert.match(human.stdout, /12 images/);

  const good = path.join(tmp, 'in.png');
  await sharp(Buffer.alloc(100 * 80, 90), { raw: { width: 100, height: 80, channels: 1 } }).png().toFile(good);
  const bad = path.join(tmp, 'bad.png');
  writeFileSync(bad, '');
  const p = run('preprocess', good, bad, '--out', path.join(tmp, 'pre'), '--size', '32', '--crop', '0.1');
  assert.equal(p.status, 1, 'exit 1 when something was skipped');
  assert.match(p.stderr, /skipped .*bad\.png: empty file \(0 bytes\) \[E_FILE_EMPTY\]/);
  assert.ok(!/\n\s+at /.test(p.stderr), 'no stack trace');
  const meta = await sharp(path.join(tmp, 'pre', 'in.png')).metadata();
  assert.deepEqual([meta.width, meta.height, meta.channels], [32, 32, 1]);
});

test('bad options and sources give one-line errors', () => {
  const r = run('preprocess', 'x.png', '--out', tmp, '--crop', '0.7');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--crop/);
  const d = run('data', 'inspect', path.join(tmp, 'nothing-here'));
  assert.equal(d.status, 1);
  assert.match(d.stderr, /E_FILE_MISSING/);
  assert.ok(existsSync(bin));
});

test('data inspect summarises a long list of skipped lines (counts per code, the first few) instead of printing all', () => {
  const d = path.join(tmp, 'many-skipped');
  mkdirSync(path.join(d, 'train'), { recursive: true });
  writeFileSync(path.join(d, 'train', 'a.png'), 'x');
  const lines = ['p0 a.png normal rsna'];
  for (let i = 1; i <= 5000; i++) lines.push(i % 2 ? `p${i} missing${i}.png normal rsna` : `p${i} a${i}.png flu rsna`);
  writeFileSync(path.join(d, 'train.txt'), lines.join('\n'));
  const r = run('data', 'inspect', d);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /skipped entries \(5000: 2500 E_FILE_MISSING, 2500 E_LABEL\):/);
  assert.match(r.stdout, /… and 4990 more \(all of them with --json\)/);
  assert.ok(r.stdout.split('\n').length < 40, `${r.stdout.split('\n').length} lines printed`);
  const j = run('data', 'inspect', d, '--json');
  assert.equal((JSON.parse(j.stdout) as { skipped: unknown[] }).skipped.length, 5000);
});

test('preprocess: a FIFO named x.png is skipped at once and the healthy file beside it is written', { timeout: 60_000 }, async (t) => {
  const fifo = path.join(tmp, 'x.png');
  if (spawnSync('mkfifo', [fifo]).status !== 0) return t.skip('no mkfifo here');
  const good = path.join(tmp, 'healthy.png');
  await sharp(Buffer.alloc(40 * 30, 120), { raw: { width: 40, height: 30, channels: 1 } }).png().toFile(good);
  const out = path.join(tmp, 'pre-fifo');
  const r = spawnSync(process.execPath, [bin, 'preprocess', fifo, good, '--out', out, '--size', '16'], { encoding: 'utf8', cwd: repo, timeout: 30_000 });
  assert.equal(r.signal, null, 'preprocess hung on the FIFO');
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /x\.png: is a FIFO \(named pipe\), not a regular file: not read \[E_FORMAT_UNKNOWN\]/);
  assert.ok(existsSync(path.join(out, 'healthy.png')));
});
