/**
 * The addon's boundary: every native entry point, called with wrong types, short and long buffers,
 * zero, negative and huge dimensions, overflowing shapes, mismatched shapes and bad modes, gives a
 * JS error with a code (E_NATIVE_ARG, naming the function) and never crashes the process; valid
 * calls still compute afterwards. Skips without the addon.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadAddon, type NativeAddon } from './native.js';

const load = loadAddon();
const skip = load.ok ? false : `native addon not available (${load.error}); build it with \`make native\``;
const addon = (load.ok ? load.addon : undefined) as NativeAddon & Record<string, (...args: unknown[]) => unknown>;

const HUGE = 2 ** 31 - 1;
let refused = 0;

/** f(...args) throws a JS error with `code` whose message starts with the function's name. */
function refuses(fn: string, args: unknown[], label: string, code = 'E_NATIVE_ARG'): void {
  assert.throws(() => addon[fn]!(...args), (e: unknown) => {
    assert.ok(e instanceof Error, `${fn} ${label}: not an Error: ${String(e)}`);
    assert.equal((e as { code?: unknown }).code, code, `${fn} ${label}: ${e.message}`);
    assert.ok(e.message.startsWith(`${fn}: `), `${fn} ${label}: message ${e.message}`);
    assert.match(e.message, /expected/, `${fn} ${label}`);
    refused++;
    return true;
  }, `${fn} ${label}: no error`);
}

type Kind =
  | { kind: 'f32'; nullable?: boolean }
  | { kind: 'params'; min: number[]; max?: (number | undefined)[]; hugeOk?: number[] }
  | { kind: 'int'; bad: unknown[] }
  | { kind: 'num' }
  | { kind: 'bool' }
  | { kind: 'workspace' }
  | { kind: 'list' }
  | { kind: 'f64' };

/** Wrong values for one argument of a valid call (each must be refused). */
function mutations(valid: unknown, k: Kind): [string, unknown][] {
  const common: [string, unknown][] = [['undefined', undefined], ['a string', 'x'], ['an object', {}]];
  switch (k.kind) {
    case 'f32': {
      const n = (valid as Float32Array).length;
      const out: [string, unknown][] = [
        ...common, ['a number', 5], ['a plain array', Array.from({ length: n }, () => 0)],
        ['an Int32Array', new Int32Array(n)], ['a Float64Array', new Float64Array(n)], ['a Uint8Array', new Uint8Array(n * 4)],
        ['a short buffer', new Float32Array(n - 1)], ['an empty buffer', new Float32Array(0)], ['a long buffer', new Float32Array(n + 1)],
        ['a short view', new Float32Array(new ArrayBuffer(4 * n), 4)],
      ];
      return k.nullable ? out.filter(([l]) => l !== 'undefined') : [...out, ['null', null]];
    }
    case 'params': {
      const p = valid as Int32Array;
      const out: [string, unknown][] = [
        ...common, ['a Float32Array', Float32Array.from(p)], ['a plain array', Array.from(p)],
        ['too few', p.slice(0, p.length - 1)], ['too many', Int32Array.from([...p, 1])], ['none', new Int32Array(0)],
      ];
      p.forEach((v, i) => {
        const set = (x: number): Int32Array => Int32Array.from(p, (y, j) => (j === i ? x : y));
        out.push([`params[${i}] = -1`, set(-1)], [`params[${i}] = -2^31`, set(-(2 ** 31))]);
        if (v !== HUGE && !k.hugeOk?.includes(i)) out.push([`params[${i}] = 2^31 - 1`, set(HUGE)]);
        if (k.min[i]! >= 1) out.push([`params[${i}] = 0`, set(0)]);
        const max = k.max?.[i];
        if (max !== undefined) out.push([`params[${i}] = ${max + 1}`, set(max + 1)]);
      });
      return out;
    }
    case 'int':
      return [...common, ['null', null], ['NaN', NaN], ['1.5', 1.5], ['Infinity', Infinity], ['a numeric string', '1'], ...k.bad.map((b): [string, unknown] => [String(b), b])];
    case 'num':
      return [...common, ['null', null], ['a numeric string', '0'], ['a boolean', true]];
    case 'bool':
      return [...common, ['null', null], ['a number', 1]];
    case 'workspace': {
      const ws = valid as ArrayBuffer;
      return [...common, ['null', null], ['a Float32Array', new Float32Array(ws.byteLength / 4)],
        ['a short workspace', ws.slice(0, ws.byteLength - 1)], ['a long workspace', new ArrayBuffer(ws.byteLength + 8)],
        ['an empty workspace', new ArrayBuffer(0)], ['a same-size workspace without the tag', new ArrayBuffer(ws.byteLength)]];
    }
    case 'list': {
      const list = valid as Float32Array[];
      const n = list[0]!.length;
      return [...common, ['null', null], ['a Float32Array', new Float32Array(n)], ['an empty list', []],
        ['a list with an Int32Array', [list[0], new Int32Array(n)]], ['a list with a short buffer', [list[0], new Float32Array(n - 1)]],
        ['a list with undefined', [list[0], undefined]], ['a list with a number', [list[0], 3]]];
    }
    case 'f64':
      return [...common, ['null', null], ['a Float32Array', new Float32Array(6)], ['a short Float64Array', new Float64Array(5)],
        ['a long Float64Array', new Float64Array(7)]];
  }
}

/** A valid call works, and each argument replaced by each of its wrong values is refused. */
function boundary(fn: string, make: () => unknown[], kinds: Kind[]): number {
  addon[fn]!(...make()); // the baseline is valid
  let n = 0;
  kinds.forEach((k, i) => {
    for (const [label, bad] of mutations(make()[i], k)) {
      const args = make();
      args[i] = bad;
      refuses(fn, args, `argument ${i} ${label}`);
      n++;
    }
  });
  refuses(fn, [], 'without arguments');
  return n + 1;
}

const f = (n: number, v = 0.5): Float32Array => new Float32Array(n).fill(v);

// N=2, H=7, W=6, C=3 → OH=4, OW=3 with a 3×3 kernel, stride 2, pads 1 (OC 4 dense, ×2 depthwise)
const CONV = [2, 7, 6, 3, 4, 3, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0];
const CONV_MIN = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0];
const CONV_MAX = [...Array<undefined>(18), 1];
const DEPTHWISE = [2, 7, 6, 3, 4, 3, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2, 0];
const POINTWISE = [2, 5, 4, 3, 5, 4, 4, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0, 1];
const convSizes = (p: number[]): { x: number; y: number; w: number; oc: number } => ({
  x: p[0]! * p[1]! * p[2]! * p[3]!, y: p[0]! * p[4]! * p[5]! * p[6]!, w: p[7]! * p[8]! * p[3]! * (p[17] ? p[17] : p[6]!), oc: p[6]!,
});
const POOL = [2, 7, 6, 3, 4, 3, 3, 3, 2, 2, 1, 1, 1, 1];
const POOL_MIN = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0];
const MATMUL = [2, 1, 3, 4, 5, 0, 0, 0];
const MATMUL_MIN = [1, 1, 1, 1, 1, 0, 0, 0];
const MATMUL_MAX = [undefined, undefined, undefined, undefined, undefined, 1, 1, 1];

test('native boundary: every entry point refuses bad arguments with E_NATIVE_ARG', { skip }, async (t) => {
  const threads = addon.getThreads();
  t.after(() => addon.setThreads(threads));

  await t.test('convForward, convBackwardData, convBackwardWeights, convBiasReluBackward (dense, depthwise, pointwise)', () => {
    let n = 0;
    for (const shape of [CONV, DEPTHWISE, POINTWISE]) {
      const s = convSizes(shape);
      const p = (relu = shape[18]!): Int32Array => Int32Array.from(shape, (v, i) => (i === 18 ? relu : v));
      // a 1×1 kernel is the same at any dilation
      const params: Kind = { kind: 'params', min: CONV_MIN, max: CONV_MAX, hugeOk: shape[7] === 1 ? [15, 16] : [] };
      n += boundary('convForward', () => [f(s.x), f(s.w), f(s.oc), f(s.y), p()], [{ kind: 'f32' }, { kind: 'f32' }, { kind: 'f32', nullable: true }, { kind: 'f32' }, params]);
      n += boundary('convBackwardData', () => [f(s.y), f(s.w), f(s.x), p(0)], [{ kind: 'f32' }, { kind: 'f32' }, { kind: 'f32' }, params]);
      n += boundary('convBackwardWeights', () => [f(s.x), f(s.y), f(s.w), f(s.oc), p(0)], [{ kind: 'f32' }, { kind: 'f32' }, { kind: 'f32' }, { kind: 'f32', nullable: true }, params]);
      n += boundary('convBiasReluBackward', () => [f(s.y), f(s.y), f(s.x), f(s.w), f(s.x), f(s.w), f(s.oc), p(1)],
        [{ kind: 'f32' }, { kind: 'f32' }, { kind: 'f32' }, { kind: 'f32' }, { kind: 'f32', nullable: true }, { kind: 'f32' }, { kind: 'f32' }, params]);
    }
    assert.ok(n > 500, `${n} hostile calls`);
  });

  await t.test('conv: inconsistent, overflowing and degenerate shapes', () => {
    const s = convSizes(CONV);
    const call = (p: number[], sizes = s): unknown => addon.convForward(f(sizes.x), f(sizes.w), null, f(sizes.y), Int32Array.from(p));
    const bad: [string, number[]][] = [
      ['OH not the output size', CONV.map((v, i) => (i === 4 ? 5 : v))],
      ['OW not the output size', CONV.map((v, i) => (i === 5 ? 2 : v))],
      ['kernel larger than the padded input', CONV.map((v, i) => (i === 7 ? 10 : v))],
      ['dilation past the input', CONV.map((v, i) => (i === 15 ? 5 : v))],
      ['depthwise OC not C × multiplier', CONV.map((v, i) => (i === 17 ? 3 : v))],
      ['every dimension 2^31 - 1 (products overflow)', [HUGE, HUGE, HUGE, HUGE, HUGE, HUGE, HUGE, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0]],
      ['2^16 per dimension (2^64 elements)', [65536, 65536, 65536, 65536, 65536, 65536, 65536, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0]],
    ];
    for (const [label, p] of bad) refuses('convForward', [f(s.x), f(s.w), null, f(s.y), Int32Array.from(p)], label);
    // shape right, buffers for another shape
    refuses('convForward', [f(s.x), f(s.w), null, f(s.y), Int32Array.from(DEPTHWISE)], 'buffers of a dense conv, params of a depthwise one');
    call(CONV); // still fine
  });

  await t.test('maxPoolForward, maxPoolBackward (workspace size and shape checked)', () => {
    const x = 2 * 7 * 6 * 3, y = 2 * 4 * 3 * 3;
    const p = (): Int32Array => Int32Array.from(POOL);
    const params: Kind = { kind: 'params', min: POOL_MIN };
    let n = boundary('maxPoolForward', () => [f(x), f(y), p(), true], [{ kind: 'f32' }, { kind: 'f32' }, params, { kind: 'bool' }]);
    const ws = addon.maxPoolForward(f(x), f(y), p(), true)!;
    assert.ok(ws instanceof ArrayBuffer);
    assert.equal(addon.maxPoolForward(f(x), f(y), p(), false), undefined);
    n += boundary('maxPoolBackward', () => [f(y), ws, f(x), p()], [{ kind: 'f32' }, { kind: 'workspace' }, { kind: 'f32' }, params]);
    // a workspace of the same size made for another shape (pads moved): refused by its tag
    const other = Int32Array.from([2, 7, 6, 3, 4, 3, 3, 3, 2, 2, 0, 0, 2, 2]);
    const ws2 = addon.maxPoolForward(f(x), f(y), other, true)!;
    if (ws2.byteLength === ws.byteLength) refuses('maxPoolBackward', [f(y), ws2, f(x), p()], 'a workspace made for other params');
    refuses('maxPoolForward', [f(x), f(y), Int32Array.from(POOL.map((v, i) => (i === 4 ? 5 : v))), true], 'OH not the output size');
    refuses('maxPoolForward', [f(x), f(y), Int32Array.from(POOL.map((v, i) => (i === 6 ? 12 : v))), true], 'kernel larger than the padded input');
    assert.ok(n > 100);
  });

  await t.test('matmul (batches, transposes, bias)', () => {
    const p = (): Int32Array => Int32Array.from(MATMUL);
    boundary('matmul', () => [f(24), f(20), f(30), f(5), p()],
      [{ kind: 'f32' }, { kind: 'f32' }, { kind: 'f32' }, { kind: 'f32', nullable: true }, { kind: 'params', min: MATMUL_MIN, max: MATMUL_MAX }]);
    refuses('matmul', [f(24), f(40), f(30), null, Int32Array.from([2, 3, 3, 4, 5, 0, 0, 0])], 'batches 2 and 3 (no broadcast)');
    refuses('matmul', [f(24), f(20), f(30), null, Int32Array.from([HUGE, 1, HUGE, HUGE, HUGE, 0, 0, 0])], 'overflowing shape');
    refuses('matmul', [f(24), f(20), f(30), null, Int32Array.from([1, 1, 65536, 65536, 65536, 0, 0, 0])], 'huge shape, small buffers');
  });

  await t.test('binary (every op and broadcast mode), unary, addN', () => {
    const int = (bad: unknown[]): Kind => ({ kind: 'int', bad });
    for (const mode of [0, 1, 2, 3, 4]) {
      const aLen = mode === 2 ? 1 : mode === 4 ? 4 : 12, bLen = mode === 1 ? 1 : mode === 3 ? 4 : 12;
      boundary('binary', () => [3, f(aLen), f(bLen, 2), f(12), mode, 4],
        [int([-1, 4, 2 ** 31]), { kind: 'f32' }, { kind: 'f32' }, { kind: 'f32' }, int([-1, 5]), int([0, -1, 13, ...(mode >= 3 ? [5] : [])])]);
    }
    refuses('binary', [0, f(0), f(0), f(0), 0, 1], 'empty tensors');
    boundary('unary', () => [1, f(12), f(12), 0.3], [int([-1, 4]), { kind: 'f32' }, { kind: 'f32' }, { kind: 'num' }]);
    refuses('unary', [0, f(0), f(0), 0], 'empty tensors');
    boundary('addN', () => [[f(12), f(12), f(12)], f(12)], [{ kind: 'list' }, { kind: 'f32' }]);
  });

  await t.test('sumOuter, sumInner', () => {
    for (const fn of ['sumOuter', 'sumInner']) {
      const out = fn === 'sumOuter' ? 4 : 3;
      boundary(fn, () => [f(12), f(out), 3, 4],
        [{ kind: 'f32' }, { kind: 'f32' }, { kind: 'int', bad: [0, -1, 5, 13, 2 ** 31] }, { kind: 'int', bad: [0, -1, 3, 13, 2 ** 53] }]);
      refuses(fn, [f(0), f(0), 0, 0], 'empty tensors');
      refuses(fn, [f(12), f(out), 2 ** 31, 2 ** 31], 'rows × cols overflowing');
    }
  });

  await t.test('adam', () => {
    boundary('adam', () => [f(10), f(10, 0.1), f(10, 0), f(10, 0), Float64Array.from([1e-3, 0.9, 0.999, 1e-7, 0.1, 0.001])],
      [{ kind: 'f32' }, { kind: 'f32' }, { kind: 'f32' }, { kind: 'f32' }, { kind: 'f64' }]);
    refuses('adam', [f(0), f(0), f(0), f(0), new Float64Array(6)], 'empty variable');
  });

  await t.test('setThreads (1..256), getThreads, version, clearCache', () => {
    for (const bad of [0, -1, 257, 100000, 2 ** 31, 1.5, NaN, Infinity, '2', undefined, null]) refuses('setThreads', [bad], `threads = ${String(bad)}`);
    assert.equal(addon.setThreads(256), 256);
    assert.equal(addon.setThreads(1), 1);
    assert.equal(addon.getThreads(), 1);
    assert.match(addon.version(), /^\d+\.\d+\.\d+/);
    addon.clearCache();
  });

  await t.test('image ops: resizeAreaU8, pngUnfilterGray, jpegDecodeGray', () => {
    // 4×2 → 2×1 by averaging pairs: x0 = [0, 2], K = 2, one row pair
    const valid = (): unknown[] => [new Uint8Array([10, 20, 30, 40, 50, 60, 70, 80]), 4, 2, 2, 1, Int32Array.from([0, 2]),
      Float32Array.from([0.5, 0.5, 0.5, 0.5]), 2, Int32Array.from([0, 2]), Int32Array.from([0, 1]), Float32Array.from([0.5, 0.5]), new Uint8Array(2)];
    const r = valid();
    addon['resizeAreaU8']!(...r);
    assert.deepEqual(Array.from(r[11] as Uint8Array), [35, 55]);
    const bad: [number, unknown, string][] = [
      [0, new Uint8Array(7), 'short src'], [0, new Float32Array(8), 'Float32Array src'], [0, undefined, 'no src'],
      [1, 0, 'w = 0'], [1, -4, 'w < 0'], [1, '4', 'w a string'], [2, 1.5, 'h fractional'], [3, 2 ** 31, 'outW 2^31'],
      [5, Int32Array.from([0, 3]), 'x0 past the row'], [5, Int32Array.from([-1, 2]), 'x0 negative'], [5, new Float32Array(2), 'x0 Float32Array'],
      [6, new Float32Array(3), 'short xa'], [7, 5, 'K > w'], [7, 0, 'K = 0'],
      [8, Int32Array.from([1, 2]), 'yStart not from 0'], [8, Int32Array.from([0, 9]), 'yStart past the taps'], [8, Int32Array.from([0]), 'short yStart'],
      [9, Int32Array.from([0, 2]), 'yIdx past the rows'], [9, Int32Array.from([-1, 0]), 'yIdx negative'],
      [10, new Float32Array(1), 'short yAlpha'], [11, new Uint8Array(1), 'short out'], [11, new Int32Array(2), 'Int32Array out'],
    ];
    for (const [i, v, label] of bad) {
      const args = valid();
      args[i] = v;
      refuses('resizeAreaU8', args, label);
    }
    const decreasing = (): unknown[] => {
      const a = valid();
      a[4] = 2;
      a[8] = Int32Array.from([0, 2, 1]);
      a[11] = new Uint8Array(4);
      return a;
    };
    refuses('resizeAreaU8', decreasing(), 'yStart decreasing');
    refuses('resizeAreaU8', [], 'without arguments');

    const png = (): unknown[] => [new Uint8Array([0, 1, 2, 0, 3, 4]), 2, 2, 1, new Uint8Array(4)];
    const p = png();
    assert.equal(addon['pngUnfilterGray']!(...p), true);
    assert.deepEqual(Array.from(p[4] as Uint8Array), [1, 2, 3, 4]);
    for (const [i, v, label] of [[0, new Uint8Array(5), 'short raw'], [0, new Int8Array(6), 'Int8Array raw'], [1, 0, 'w = 0'],
      [2, -1, 'h < 0'], [3, 5, 'ch = 5'], [3, 0, 'ch = 0'], [4, new Uint8Array(3), 'short out'], [4, null, 'no out'],
      [1, 2 ** 31, 'w = 2^31']] as [number, unknown, string][]) {
      const args = png();
      args[i] = v;
      refuses('pngUnfilterGray', args, label);
    }
    assert.equal(addon['pngUnfilterGray']!(new Uint8Array([7, 1, 2, 0, 3, 4]), 2, 2, 1, new Uint8Array(4)), false, 'unknown filter: false');

    if (typeof addon['jpegDecodeGray'] === 'function') {
      assert.equal(addon['jpegDecodeGray']!(new Uint8Array([1, 2, 3]), 1e8), null, 'not a JPEG: null (sharp words the error)');
      for (const [args, label] of [[[5, 1e8], 'a number'], [[new Int32Array(3), 1e8], 'an Int32Array'], [[new Uint8Array(3), 'x'], 'maxPixels a string'],
        [[new Uint8Array(3), NaN], 'maxPixels NaN'], [[new Uint8Array(3), -1], 'maxPixels < 0'], [[], 'nothing']] as [unknown[], string][]) {
        refuses('jpegDecodeGray', args, label);
      }
    }
  });

  await t.test('planCreate, planRun, planDispose, planInfo (program, values, outputs, weights, batch, dead plans)', () => {
    // input 4×4×2 → conv 3×3 same relu (3 ch) → pool 2×2 → add(v2, v2) → dense 5 → softmax; outputs [5, 1]
    const R = 32, P = 19;
    const rec = (op: number, out: number, ins: number[], params: number[]): number[] => {
      const r = new Array<number>(R).fill(0);
      r[0] = op; r[1] = out; r[2] = ins.length;
      ins.forEach((v, k) => (r[3 + k] = v));
      params.forEach((v, k) => (r[P + k] = v));
      return r;
    };
    const ops = (): number[][] => [
      rec(1, 1, [0], [3, 3, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1]),
      rec(2, 2, [1], [2, 2, 2, 2, 0, 0, 0, 0]),
      rec(3, 3, [2, 2], []),
      rec(4, 4, [3], [0, 2, 3]),
      rec(5, 5, [4], []),
    ];
    const vals = [4, 4, 2, 4, 4, 3, 2, 2, 3, 2, 2, 3, 1, 1, 5, 1, 1, 5];
    const prog = (o = ops()): Int32Array => Int32Array.from(o.flat());
    const values = (v = vals): Int32Array => Int32Array.from(v);
    const outs = (): Int32Array => Int32Array.from([5, 1]);
    const create = (): unknown[] => [prog(), values(), outs(), 4];
    const plan = addon.planCreate(prog(), values(), outs(), 4);
    const weights = (): Float32Array[] => [f(54, 0.1), f(3, 0.1), f(60, 0.05), f(5, 0)];
    const run = (): unknown[] => [plan, f(2 * 32, 1), 2, weights()];
    const [probs, conv] = addon.planRun(plan, f(2 * 32, 1), 2, weights());
    assert.equal(probs!.length, 10);
    assert.equal(conv!.length, 2 * 48);
    assert.ok(Math.abs(probs!.slice(0, 5).reduce((a, b) => a + b, 0) - 1) < 1e-6, 'softmax rows sum to 1');
    const edit = (i: number, change: (r: number[]) => void): Int32Array => {
      const o = ops();
      change(o[i]!);
      return prog(o);
    };
    const badPrograms: [string, Int32Array][] = [
      ['an empty program', new Int32Array(0)], ['31 elements', new Int32Array(31)],
      ['op code 0', edit(0, (r) => (r[0] = 0))], ['op code 8', edit(0, (r) => (r[0] = 8))],
      ['writing the input', edit(0, (r) => (r[1] = 0))], ['writing past the values', edit(0, (r) => (r[1] = 6))],
      ['writing a value twice', edit(1, (r) => (r[1] = 1))], ['no inputs', edit(0, (r) => (r[2] = 0))],
      ['17 inputs', edit(2, (r) => (r[2] = 17))], ['a conv with 2 inputs', edit(0, (r) => (r[2] = 2))],
      ['reading a later value', edit(1, (r) => (r[3] = 3))], ['reading value -1', edit(1, (r) => (r[3] = -1))],
      ['kernel 0', edit(0, (r) => (r[P] = 0))], ['stride 0', edit(0, (r) => (r[P + 2] = 0))], ['pad -1', edit(0, (r) => (r[P + 4] = -1))],
      ['kernel past the padded input', edit(0, (r) => (r[P] = 7))], ['conv output of the wrong size', edit(0, (r) => (r[P + 4] = 0))],
      ['pooling output of the wrong size', edit(1, (r) => (r[P + 2] = 1))], ['depthwise multiplier not OC / C', edit(0, (r) => (r[P + 8] = 2))],
      ['relu 2', edit(0, (r) => (r[P + 9] = 2))], ['kernel index 4 of 4', edit(0, (r) => (r[P + 10] = 4))],
      ['bias index -2', edit(0, (r) => (r[P + 11] = -2))], ['one weight with two sizes', edit(3, (r) => (r[P + 1] = 0))],
      ['dense activation 5', edit(3, (r) => (r[P] = 5))], ['add of two shapes', edit(2, (r) => (r[4] = 1))],
      ['huge kernel', edit(0, (r) => (r[P] = 2 ** 31 - 1))],
    ];
    for (const [label, p] of badPrograms) refuses('planCreate', [p, values(), outs(), 4], label);
    const badValues: [string, Int32Array][] = [
      ['no values', new Int32Array(0)], ['17 elements', Int32Array.from(vals.slice(0, 17))],
      ['a zero dimension', values(vals.map((v, i) => (i === 0 ? 0 : v)))], ['a negative dimension', values(vals.map((v, i) => (i === 4 ? -3 : v)))],
      ['2^31 - 1 per dimension', values(vals.map((v, i) => (i < 3 ? 2 ** 31 - 1 : v)))], ['dense output not 1×1', values(vals.map((v, i) => (i === 12 ? 2 : v)))],
    ];
    for (const [label, v] of badValues) refuses('planCreate', [prog(), v, outs(), 4], label);
    for (const [label, o] of [['no outputs', new Int32Array(0)], ['output 6', Int32Array.from([6])], ['output -1', Int32Array.from([-1])]] as [string, Int32Array][]) {
      refuses('planCreate', [prog(), values(), o, 4], label);
    }
    for (const [label, n] of [['3 weights (one used is missing)', 3], ['5 weights (one unused)', 5], ['-1', -1], ['1.5', 1.5], ['a string', '4'], ['2^17', 2 ** 17]] as [string, unknown][]) {
      refuses('planCreate', [prog(), values(), outs(), n], `numWeights ${label}`);
    }
    for (const [i, label, bad] of [[0, 'a Float32Array program', new Float32Array(R * 5)], [0, 'a plain array', ops().flat()], [1, 'no values', undefined], [2, 'outputs null', null]] as [number, string, unknown][]) {
      const args = create();
      args[i] = bad;
      refuses('planCreate', args, label);
    }
    refuses('planCreate', [], 'without arguments');

    const badRuns: [number, string, unknown][] = [
      [0, 'a number for the plan', 3], [0, 'an object for the plan', {}], [0, 'undefined for the plan', undefined],
      [1, 'a short input', f(63)], [1, 'a long input', f(65)], [1, 'a Float64Array input', new Float64Array(64)], [1, 'no input', null],
      [2, 'batch 0', 0], [2, 'batch -1', -1], [2, 'batch 1.5', 1.5], [2, 'batch 2^21', 2 ** 21], [2, 'batch a string', '2'],
      [3, 'weights not an array', f(54)], [3, 'three weights', weights().slice(0, 3)], [3, 'five weights', [...weights(), f(1)]],
      [3, 'a short weight', [f(53), f(3), f(60), f(5)]], [3, 'an Int32Array weight', [f(54), new Int32Array(3), f(60), f(5)]],
      [3, 'an undefined weight', [f(54), f(3), undefined, f(5)]],
    ];
    for (const [i, label, bad] of badRuns) {
      const args = run();
      args[i] = bad;
      refuses('planRun', args, label);
    }
    refuses('planRun', [], 'without arguments');
    for (const fn of ['planDispose', 'planInfo']) for (const bad of [undefined, 3, {}, f(3)]) refuses(fn, [bad], `plan ${String(bad)}`);
    const info = addon.planInfo(plan);
    assert.equal(info.ops, 5);
    assert.equal(info.disposed, false);
    addon.planDispose(plan);
    addon.planDispose(plan); // idempotent
    assert.equal(addon.planInfo(plan).disposed, true);
    refuses('planRun', run(), 'a disposed plan');
  });

  await t.test('after all that, the kernels still compute', () => {
    const out = new Float32Array(3);
    addon.binary(0, Float32Array.from([1, 2, 3]), Float32Array.from([10]), out, 1, 3);
    assert.deepEqual(Array.from(out), [11, 12, 13]);
    const c = new Float32Array(4);
    addon.matmul(Float32Array.from([1, 2, 3, 4]), Float32Array.from([1, 0, 0, 1]), c, null, Int32Array.from([1, 1, 2, 2, 2, 0, 0, 0]));
    assert.deepEqual(Array.from(c), [1, 2, 3, 4]);
    const s = convSizes(CONV);
    const y = new Float32Array(s.y);
    addon.convForward(f(s.x, 1), f(s.w, 1), null, y, Int32Array.from(CONV));
    assert.equal(y[y.length - 1], 2 * 3 * 3); // bottom-right output: 2 rows × 3 columns × 3 channels inside the image
    t.diagnostic(`${refused} bad calls refused`);
  });
});
