/**
 * The ONNX Runtime anchor of `covidnet bench --anchor onnxruntime`: the PyTorch mirror of the
 * network (docs/performance.md) exported to ONNX (scripts/export-onnx.py, into a temporary folder)
 * and timed in ONNX Runtime in this process, as the bench times covidnet's forward: random inputs,
 * medians after warm-up, milliseconds per image. The bench interleaves the two engines' forwards
 * (openOnnxRuntime), so that both see the same machine: on a shared 2-core VM, runs a minute
 * apart differed by up to 40%.
 *
 * onnxruntime-node is not a dependency (its install script may download from GitHub, which CI
 * cannot reach): it is loaded from `COVIDNET_ONNXRUNTIME` (the package's folder, e.g. one installed
 * with `ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node` elsewhere) or from the normal
 * module resolution, and the bench says clearly when it is absent.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CovidNetError } from '../errors.js';
import { createRng } from '../util/rng.js';

/** The parts of onnxruntime-node's API the anchor uses. */
interface OrtSession {
  run(feeds: Record<string, unknown>): Promise<Record<string, unknown>>;
  release?(): Promise<void>;
}
interface OrtModule {
  InferenceSession: { create(path: string, opts: Record<string, unknown>): Promise<OrtSession> };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => unknown;
  env?: { versions?: { common?: string } };
}

/** What a bench times, for covidnet's bench (bench.ts's BenchOptions extends it) and the anchor alike. */
export interface BenchShape {
  model: 'single' | 'siamese';
  size: number;
  width: number;
  fc: number;
  /** Images (single) or pairs (siamese) per step. */
  batch: number;
  steps: number;
  warmup: number;
}

/** The anchor runs the bench's shape on the bench's resolved thread count. */
export interface AnchorOptions extends BenchShape {
  threads: number;
}

/** Where the PyTorch mirror is: `COVIDNET_PYTORCH_MIRROR`, else ../shared/anchors/pytorch_covidnet.py from the working directory. */
export function mirrorPath(): string {
  return resolve(process.env['COVIDNET_PYTORCH_MIRROR'] || '../shared/anchors/pytorch_covidnet.py');
}

function loadOrt(): { ort: OrtModule; from: string } {
  const require = createRequire(import.meta.url);
  const dir = process.env['COVIDNET_ONNXRUNTIME'];
  const spec = dir ? resolve(dir) : 'onnxruntime-node';
  try {
    return { ort: require(spec) as OrtModule, from: spec };
  } catch (e) {
    const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0];
    throw new CovidNetError('E_BACKEND', `--anchor onnxruntime: onnxruntime-node is not installed (${msg}); install it outside the repository with ` +
      '`ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node` and set COVIDNET_ONNXRUNTIME to its folder (…/node_modules/onnxruntime-node)', { cause: e });
  }
}

/** Exports the mirror to `out` with scripts/export-onnx.py (Debian's python3-torch). */
async function exportOnnx(o: AnchorOptions, out: string): Promise<void> {
  const script = fileURLToPath(new URL('../../scripts/export-onnx.py', import.meta.url));
  const mirror = mirrorPath();
  if (!existsSync(mirror)) throw new CovidNetError('E_FILE_MISSING', `--anchor onnxruntime: the PyTorch mirror is not at ${mirror} (set COVIDNET_PYTORCH_MIRROR)`);
  const python = process.env['COVIDNET_PYTHON'] || '/usr/bin/python3';
  try {
    await promisify(execFile)(python, [script, '--anchor', mirror, '--model', o.model, '--size', String(o.size), '--width', String(o.width), '--fc', String(o.fc), '--out', out]);
  } catch (e) {
    const msg = e instanceof Error ? e.message.split('\n').slice(-3).join(' ') : String(e);
    throw new CovidNetError('E_BACKEND', `--anchor onnxruntime: exporting the PyTorch mirror to ONNX failed (${python}; needs python3-torch): ${msg}`, { cause: e });
  }
}

/** An open ONNX Runtime session of the mirror, timed one forward at a time (so a bench can interleave it with its own). */
export interface OnnxAnchor {
  framework: string;
  /** One forward of a batch: milliseconds per image (a siamese pair counts as 2 images). */
  forwardMs(): Promise<number>;
  close(): Promise<void>;
}

/** Exports the mirror for this shape and opens it in ONNX Runtime on `threads` threads. */
export async function openOnnxRuntime(o: AnchorOptions): Promise<OnnxAnchor> {
  const { ort } = loadOrt();
  const dir = await mkdtemp(join(tmpdir(), 'covidnet-onnx-'));
  try {
    const file = join(dir, `covidnet-${o.model}.onnx`);
    await exportOnnx(o, file);
    const session = await ort.InferenceSession.create(file, {
      intraOpNumThreads: o.threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all', executionProviders: ['cpu'],
    });
    const rng = createRng(11);
    const names = o.model === 'single' ? ['image'] : ['image_a', 'image_b'];
    const n = o.batch * o.size * o.size;
    const feeds: Record<string, unknown> = {};
    for (const name of names) feeds[name] = new ort.Tensor('float32', Float32Array.from({ length: n }, () => rng.normal()), [o.batch, 1, o.size, o.size]);
    return {
      framework: `onnxruntime ${ort.env?.versions?.common ?? '?'}`,
      async forwardMs() {
        const t0 = performance.now();
        await session.run(feeds);
        return (performance.now() - t0) / (o.batch * names.length);
      },
      async close() {
        await session.release?.();
      },
    };
  } finally {
    // the session holds the model in memory: the file is no longer needed
    await rm(dir, { recursive: true, force: true });
  }
}
