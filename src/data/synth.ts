/**
 * Built-in data: procedural chest-X-ray-like phantoms, so the whole study runs with no download.
 * A phantom has a body outline, two dark lung fields, heart and mediastinum, spine, clavicles and
 * ribs, low-frequency texture and noise, with random anatomy, pose, exposure and gamma.
 * - normal: clear lungs (a fifth get one small faint nodule, so "any blob" is not the answer);
 * - pneumonia: focal consolidation: one (sometimes two) dense, fairly compact opacity in one lung;
 * - COVID-19: bilateral, peripheral, patchy ground-glass opacities, mostly lower zones.
 * Severity varies down to subtle cases, so the task is learnable but not trivial at 112².
 * `shortcuts` adds class-correlated border marks (80% of COVID-19 images get a corner tag, 80%
 * of pneumonia images an edge bar, 10% of every class the "wrong" mark), like the artifacts the
 * study found with Grad-CAM; they lie in the outer 7% of the image, so `--crop 0.08` removes them.
 * Deterministic for a seed (each image has its own generator, derived from seed, class and index).
 */
import path from 'node:path';
import sharp from 'sharp';
import { optionError } from '../errors.js';
import { CLASSES, type ClassName, type Split } from '../types.js';
import { createRng, shuffleInPlace, type Rng } from '../util/rng.js';
import { writeFileAtomic } from '../util/atomic.js';

export interface SynthOptions {
  out: string;
  /** Images per class (default 180). */
  perClass: number;
  /** Side of the square images in pixels (default 224). */
  imageSize: number;
  seed: number;
  shortcuts: boolean;
  /** Fraction of each class's patients in test (default 0.2). */
  testFraction?: number;
  /** Fraction of each class's remaining patients in val (default 0.2). */
  valFraction?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface SynthResult {
  out: string;
  manifest: string;
  counts: Record<Split, Record<ClassName, number>>;
  patients: number;
}

const DIR: Record<ClassName, string> = { normal: 'normal', pneumonia: 'pneumonia', 'COVID-19': 'covid-19' };

/** Smooth random field in [-1, 1]: bilinear-smoothstep interpolation of a g×g grid. */
function valueNoise(rng: Rng, g: number): (u: number, v: number) => number {
  const grid = Float32Array.from({ length: (g + 1) * (g + 1) }, () => 2 * rng.next() - 1);
  return (u, v) => {
    const x = Math.min(Math.max(u, 0), 0.9999) * g;
    const y = Math.min(Math.max(v, 0), 0.9999) * g;
    const x0 = Math.floor(x);
    const y0 = Math.floor(y);
    let fx = x - x0;
    let fy = y - y0;
    fx = fx * fx * (3 - 2 * fx);
    fy = fy * fy * (3 - 2 * fy);
    const i = y0 * (g + 1) + x0;
    const a = grid[i]! * (1 - fx) + grid[i + 1]! * fx;
    const b = grid[i + g + 1]! * (1 - fx) + grid[i + g + 2]! * fx;
    return a * (1 - fy) + b * fy;
  };
}

interface Blob { cx: number; cy: number; rx: number; ry: number; amp: number; rough: number }
interface Anatomy {
  cx: number; cy: number; sx: number; sy: number; angle: number;
  lungRx: number; lungRy: number; lungDy: number; lungGap: number;
  heartRx: number; heartRy: number; heartDx: number;
  ribPhase: number; ribGap: number; exposure: number; contrast: number; gamma: number;
  textureSeed: number;
}

function newAnatomy(rng: Rng): Anatomy {
  const j = (s: number): number => (2 * rng.next() - 1) * s;
  return {
    cx: 0.5 + j(0.03), cy: 0.53 + j(0.03), sx: 1 + j(0.07), sy: 1 + j(0.07), angle: j(0.06),
    lungRx: 0.135 + j(0.015), lungRy: 0.27 + j(0.025), lungDy: -0.05 + j(0.02), lungGap: 0.175 + j(0.015),
    heartRx: 0.105 + j(0.015), heartRy: 0.12 + j(0.015), heartDx: 0.03 + j(0.015),
    ribPhase: rng.next(), ribGap: 0.062 + j(0.006), exposure: j(0.06), contrast: 1 + j(0.15), gamma: 1 + j(0.2),
    textureSeed: Math.floor(rng.next() * 2 ** 31),
  };
}

/** A point inside lung `side` (−1 = image left, +1 = image right), in lung-relative coordinates. */
function lungPoint(a: Anatomy, side: number, lat: number, vert: number): { x: number; y: number } {
  return { x: side * (a.lungGap + lat * a.lungRx), y: a.lungDy + vert * a.lungRy };
}

function pathology(label: ClassName, a: Anatomy, rng: Rng): Blob[] {
  const blobs: Blob[] = [];
  const sev = 0.55 + 0.45 * rng.next(); // severity: some cases subtle
  if (label === 'pneumonia') {
    const n = rng.next() < 0.7 ? 1 : 2;
    const side = rng.next() < 0.5 ? -1 : 1;
    for (let i = 0; i < n; i++) {
      const p = lungPoint(a, side, (2 * rng.next() - 1) * 0.45, -0.1 + rng.next() * 0.75);
      const r = 0.045 + rng.next() * 0.04;
      blobs.push({ cx: p.x, cy: p.y, rx: r * (0.8 + 0.4 * rng.next()), ry: r * (0.8 + 0.4 * rng.next()), amp: (0.25 + 0.2 * rng.next()) * sev, rough: 0.25 });
    }
  } else if (label === 'COVID-19') {
    const n = 4 + rng.int(4);
    for (let i = 0; i < n; i++) {
      // bilateral: alternate sides; peripheral (outer part of the lung), mostly lower zones
      const side = i % 2 === 0 ? -1 : 1;
      const p = lungPoint(a, side, 0.45 + rng.next() * 0.4, 0.05 + rng.next() * 0.75);
      const r = 0.035 + rng.next() * 0.035;
      blobs.push({ cx: p.x, cy: p.y, rx: r, ry: r * (1 + rng.next()), amp: (0.14 + 0.12 * rng.next()) * sev, rough: 0.6 });
    }
  } else if (rng.next() < 0.2) {
    const p = lungPoint(a, rng.next() < 0.5 ? -1 : 1, (2 * rng.next() - 1) * 0.6, (2 * rng.next() - 1) * 0.6);
    blobs.push({ cx: p.x, cy: p.y, rx: 0.02, ry: 0.02, amp: 0.06 + 0.06 * rng.next(), rough: 0 });
  }
  return blobs;
}

type Mark = 'tag' | 'bar' | 'none';

function markFor(label: ClassName, rng: Rng): Mark {
  const u = rng.next();
  if (label === 'COVID-19') return u < 0.8 ? 'tag' : u < 0.9 ? 'bar' : 'none';
  if (label === 'pneumonia') return u < 0.8 ? 'bar' : u < 0.9 ? 'tag' : 'none';
  return u < 0.05 ? 'tag' : u < 0.1 ? 'bar' : 'none';
}

// logistic; saturated far from the edge (most pixels), which saves the exp there
const sig = (t: number): number => (t > 30 ? 1 : t < -30 ? 0 : 1 / (1 + Math.exp(-t)));

/** Render one phantom as 8-bit gray, size×size. */
export function renderPhantom(size: number, a: Anatomy, blobs: Blob[], mark: Mark, rng: Rng): Uint8Array {
  const tex = valueNoise(createRng(a.textureSeed), 6);
  const fine = valueNoise(rng, 24);
  const out = new Uint8Array(size * size);
  const ca = Math.cos(a.angle);
  const sa = Math.sin(a.angle);
  const edge = 0.012;
  const bg = 0.06 + 0.04 * rng.next();
  const noiseSd = 0.015 + 0.02 * rng.next();
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      // body coordinates: centred, rotated, scaled
      const u0 = (px + 0.5) / size - a.cx;
      const v0 = (py + 0.5) / size - a.cy;
      const x = (ca * u0 + sa * v0) / a.sx;
      const y = (-sa * u0 + ca * v0) / a.sy;
      const body = sig((1 - Math.sqrt((x / 0.44) ** 2 + (y / 0.52) ** 2)) / edge);
      let val = bg + body * 0.42;
      // spine and mediastinum
      val += body * 0.12 * sig((0.045 - Math.abs(x)) / 0.01);
      // lungs (dark), lower edge domed by the diaphragm
      const ly = (y - a.lungDy) / a.lungRy;
      const lungL = sig((1 - Math.sqrt(((x + a.lungGap) / a.lungRx) ** 2 + ly * ly)) / 0.06);
      const lungR = sig((1 - Math.sqrt(((x - a.lungGap) / a.lungRx) ** 2 + ly * ly)) / 0.06);
      let lung = lungL > lungR ? lungL : lungR;
      const heart = sig((1 - Math.sqrt(((x - a.heartDx) / a.heartRx) ** 2 + ((y - 0.14) / a.heartRy) ** 2)) / 0.05);
      lung *= 1 - heart;
      val -= lung * 0.3;
      val += heart * 0.08;
      // ribs: curved bright bands across the chest, clavicles at the top
      if (body > 0.1) {
        const t = (y - 0.06 * (x / 0.3) ** 2) / a.ribGap + a.ribPhase;
        const f = t - Math.floor(t);
        val += body * 0.07 * Math.exp(-(((f - 0.5) / 0.12) ** 2)) * (y > -0.32 && y < 0.22 ? 1 : 0);
        const cl = y + 0.3 - 0.08 * Math.abs(x);
        val += body * 0.09 * Math.exp(-((cl / 0.015) ** 2)) * (Math.abs(x) > 0.04 && Math.abs(x) < 0.3 ? 1 : 0);
      }
      // lung texture (vessels-ish), pathology
      val += lung * 0.04 * tex(x + 0.5, y + 0.5);
      for (const b of blobs) {
        const d2 = ((x - b.cx) / b.rx) ** 2 + ((y - b.cy) / b.ry) ** 2;
        if (d2 > 9) continue;
        const m = 1 + b.rough * fine((x + 0.5) * 0.9, (y + 0.5) * 0.9);
        val += b.amp * Math.exp(-d2 / 1.4) * Math.max(0, m) * (0.3 + 0.7 * lung);
      }
      // exposure, contrast, gamma, noise
      val = (val - 0.3) * a.contrast + 0.3 + a.exposure;
      val = Math.max(0, val) ** a.gamma;
      val += noiseSd * rng.normal();
      out[py * size + px] = Math.max(0, Math.min(255, Math.round(val * 255)));
    }
  }
  if (mark !== 'none') drawMark(out, size, mark, rng);
  return out;
}

function drawMark(img: Uint8Array, size: number, mark: Mark, rng: Rng): void {
  const m = Math.max(1, Math.round(size * 0.015));
  const v = 220 + rng.int(36);
  const rect = (x0: number, y0: number, w: number, h: number): void => {
    for (let y = Math.max(0, y0); y < Math.min(size, y0 + h); y++) for (let x = Math.max(0, x0); x < Math.min(size, x0 + w); x++) img[y * size + x] = v;
  };
  if (mark === 'tag') {
    // an "L"-like side marker in the top-left corner
    const s = Math.round(size * 0.05);
    rect(m, m, Math.max(1, Math.round(s / 3)), s);
    rect(m, m + s - Math.max(1, Math.round(s / 3)), Math.round(s * 0.7), Math.max(1, Math.round(s / 3)));
  } else {
    // a bar along the right edge
    const h = Math.round(size * (0.2 + 0.1 * rng.next()));
    rect(size - m - Math.max(2, Math.round(size * 0.02)), Math.round(size * 0.3), Math.max(2, Math.round(size * 0.02)), h);
  }
}

/** Write a phantom data set: PNG images and labels.csv (file,label,patient_id,source,split). */
export async function writeSynthDataset(opts: SynthOptions): Promise<SynthResult> {
  if (!Number.isInteger(opts.perClass) || opts.perClass < 3 || opts.perClass > 100000) throw optionError('perClass', 'an integer in [3, 100000]', opts.perClass);
  if (!Number.isInteger(opts.imageSize) || opts.imageSize < 32 || opts.imageSize > 2048) throw optionError('imageSize', 'an integer in [32, 2048]', opts.imageSize);
  if (!Number.isInteger(opts.seed)) throw optionError('seed', 'an integer', opts.seed);
  const testFraction = opts.testFraction ?? 0.2;
  const valFraction = opts.valFraction ?? 0.2;
  if (!(testFraction >= 0 && testFraction < 1)) throw optionError('testFraction', 'a fraction in [0, 1)', testFraction);
  if (!(valFraction >= 0 && valFraction < 1)) throw optionError('valFraction', 'a fraction in [0, 1)', valFraction);
  const out = path.resolve(opts.out);
  const counts = Object.fromEntries((['train', 'val', 'test'] as const).map((s) => [s, Object.fromEntries(CLASSES.map((c) => [c, 0]))])) as SynthResult['counts'];
  const rows: string[] = ['file,label,patient_id,source,split'];
  const total = opts.perClass * CLASSES.length;
  let done = 0;
  let patients = 0;
  for (const [ci, label] of CLASSES.entries()) {
    const crng = createRng(opts.seed * 1009 + ci);
    // patients: about one in seven has a follow-up image (same anatomy), so splits must group them
    const imgsOf: number[] = [];
    for (let left = opts.perClass; left > 0; ) {
      const k = left >= 2 && crng.next() < 0.15 ? 2 : 1;
      imgsOf.push(k);
      left -= k;
    }
    patients += imgsOf.length;
    const order = shuffleInPlace(imgsOf.map((_, i) => i), crng);
    const nTest = Math.round(testFraction * imgsOf.length);
    const nVal = Math.round(valFraction * (imgsOf.length - nTest));
    const splitOf = new Array<Split>(imgsOf.length);
    order.forEach((p, rank) => (splitOf[p] = rank < nTest ? 'test' : rank < nTest + nVal ? 'val' : 'train'));
    let idx = 0;
    for (const [p, k] of imgsOf.entries()) {
      const prng = createRng((opts.seed * 1009 + ci) * 100003 + p);
      const anatomy = newAnatomy(prng);
      const pid = `synth-${DIR[label]}-${String(p + 1).padStart(4, '0')}`;
      for (let j = 0; j < k; j++, idx++) {
        const irng = createRng(prng.int(2 ** 31) ^ (j * 0x9e3779b1));
        const blobs = pathology(label, anatomy, irng);
        const mark: Mark = opts.shortcuts ? markFor(label, irng) : 'none';
        const px = renderPhantom(opts.imageSize, anatomy, blobs, mark, irng);
        const rel = `images/${DIR[label]}/${pid}-${j + 1}.png`;
        const png = await sharp(Buffer.from(px.buffer, px.byteOffset, px.byteLength), { raw: { width: opts.imageSize, height: opts.imageSize, channels: 1 } })
          .toColourspace('b-w')
          .png({ compressionLevel: 6 })
          .toBuffer();
        await writeFileAtomic(path.join(out, rel), png, { sync: false });
        rows.push(`${rel},${label},${pid},synth,${splitOf[p]}`);
        counts[splitOf[p]!][label]++;
        opts.onProgress?.(++done, total);
      }
    }
  }
  const manifest = path.join(out, 'labels.csv');
  await writeFileAtomic(manifest, rows.join('\n') + '\n');
  return { out, manifest, counts, patients };
}
