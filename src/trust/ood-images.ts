/**
 * Out-of-distribution test images, generated: things a person might drop on the page by mistake
 * or that a pipeline might feed the model, none of them a chest X-ray.
 *   noise      white, Gaussian and salt-and-pepper noise
 *   gradients  linear and radial ramps
 *   textures   gratings, checkerboards, smooth and fractal noise clouds, rings
 *   text       rendered pages of text (dark on light and light on dark)
 *   shapes     flat geometric clip-art (circles, boxes, lines)
 * and, from real chest X-rays of a data source (`from`), near-distribution variants the detector
 * may or may not catch: `inverted` (a negative), `rotated` (90°), `upside-down`.
 * One folder per kind, PNG (8-bit gray), deterministic for a seed; `covidnet ood synth` writes
 * them and `covidnet evaluate --ood DIR` reports each folder as a kind.
 */
import { join } from 'node:path';
import sharp from 'sharp';
import { decodeGray8, loadDataset } from '../data/index.js';
import { optionError } from '../errors.js';
import { createRng, shuffleInPlace, type Rng } from '../util/rng.js';
import { writeFileAtomic } from '../util/atomic.js';

export const GENERATED_OOD_KINDS = ['noise', 'gradients', 'textures', 'text', 'shapes'] as const;
export const DERIVED_OOD_KINDS = ['inverted', 'rotated', 'upside-down'] as const;
export type GeneratedOodKind = (typeof GENERATED_OOD_KINDS)[number];
export type DerivedOodKind = (typeof DERIVED_OOD_KINDS)[number];

export interface OodImagesOptions {
  out: string;
  /** Images per kind (default 24). */
  perKind?: number | undefined;
  seed?: number | undefined;
  /** Generated kinds to write (default all). */
  kinds?: readonly GeneratedOodKind[] | undefined;
  /** A data source of real chest X-rays for the derived kinds (none without it). */
  from?: string | undefined;
}

export interface OodImagesResult {
  out: string;
  counts: Record<string, number>;
}

interface Gray {
  w: number;
  h: number;
  px: Uint8Array;
}

function clamp8(v: number): number {
  return v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
}

function image(w: number, h: number, f: (x: number, y: number) => number): Gray {
  const px = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) px[y * w + x] = clamp8(f(x, y));
  return { w, h, px };
}

function side(rng: Rng): number {
  return 224 + 32 * rng.int(9);
}

/** Smooth noise in [−1, 1] on a g×g lattice (bilinear with smoothstep). */
function lattice(rng: Rng, g: number): (u: number, v: number) => number {
  const grid = Float32Array.from({ length: (g + 1) * (g + 1) }, () => 2 * rng.next() - 1);
  return (u, v) => {
    const x = Math.min(Math.max(u, 0), 0.99999) * g;
    const y = Math.min(Math.max(v, 0), 0.99999) * g;
    const x0 = Math.floor(x);
    const y0 = Math.floor(y);
    const fx = (x - x0) * (x - x0) * (3 - 2 * (x - x0));
    const fy = (y - y0) * (y - y0) * (3 - 2 * (y - y0));
    const i = y0 * (g + 1) + x0;
    const a = grid[i]! * (1 - fx) + grid[i + 1]! * fx;
    const b = grid[i + g + 1]! * (1 - fx) + grid[i + g + 2]! * fx;
    return a * (1 - fy) + b * fy;
  };
}

function noise(rng: Rng, i: number): Gray {
  const w = side(rng);
  const h = side(rng);
  const mean = 60 + rng.next() * 140;
  const sd = 20 + rng.next() * 60;
  switch (i % 3) {
    case 0:
      return image(w, h, () => rng.next() * 255);
    case 1:
      return image(w, h, () => mean + sd * rng.normal());
    default: {
      const p = 0.05 + rng.next() * 0.3;
      return image(w, h, () => (rng.next() < p ? (rng.next() < 0.5 ? 0 : 255) : mean));
    }
  }
}

function gradient(rng: Rng, i: number): Gray {
  const w = side(rng);
  const h = side(rng);
  const lo = rng.next() * 100;
  const hi = 155 + rng.next() * 100;
  if (i % 2 === 0) {
    const a = rng.next() * 2 * Math.PI;
    const c = Math.cos(a);
    const s = Math.sin(a);
    const span = Math.abs(c) * w + Math.abs(s) * h;
    return image(w, h, (x, y) => lo + (hi - lo) * (((x - w / 2) * c + (y - h / 2) * s) / span + 0.5));
  }
  const cx = w * (0.2 + 0.6 * rng.next());
  const cy = h * (0.2 + 0.6 * rng.next());
  const r = Math.hypot(w, h) * (0.4 + 0.4 * rng.next());
  const flip = rng.next() < 0.5;
  return image(w, h, (x, y) => {
    const t = Math.min(1, Math.hypot(x - cx, y - cy) / r);
    return lo + (hi - lo) * (flip ? t : 1 - t);
  });
}

function texture(rng: Rng, i: number): Gray {
  const w = side(rng);
  const h = side(rng);
  switch (i % 5) {
    case 0: {
      const f = 4 + rng.next() * 40;
      const a = rng.next() * Math.PI;
      return image(w, h, (x, y) => 128 + 110 * Math.sin((2 * Math.PI * f * (x * Math.cos(a) + y * Math.sin(a))) / w));
    }
    case 1: {
      const c = 8 + rng.int(40);
      return image(w, h, (x, y) => ((Math.floor(x / c) + Math.floor(y / c)) % 2 ? 220 : 35));
    }
    case 2: {
      const n = lattice(rng, 4 + rng.int(12));
      return image(w, h, (x, y) => 128 + 120 * n(x / w, y / h));
    }
    case 3: {
      const octaves = [2, 4, 8, 16, 32].map((g) => lattice(rng, g));
      return image(w, h, (x, y) => 128 + 110 * octaves.reduce((s, o, k) => s + o(x / w, y / h) / 2 ** k, 0) / 1.9);
    }
    default: {
      const f = 10 + rng.next() * 30;
      const cx = w * rng.next();
      const cy = h * rng.next();
      return image(w, h, (x, y) => 128 + 100 * Math.sin((2 * Math.PI * f * Math.hypot(x - cx, y - cy)) / w));
    }
  }
}

const WORDS = 'the patient study image report series result normal chest left right upper lower field view portable exam clinical history comparison findings impression lung heart size stable change noted seen within limits no acute process'.split(' ');

function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function text(rng: Rng, i: number): Promise<Gray> {
  const w = side(rng);
  const h = side(rng);
  const dark = i % 2 === 1;
  const size = 12 + rng.int(20);
  const lines: string[] = [];
  for (let y = size * 1.5; y < h - size / 2; y += size * 1.4) {
    const words: string[] = [];
    while (words.join(' ').length * size * 0.55 < w * 0.85) words.push(WORDS[rng.int(WORDS.length)]!);
    words.pop();
    lines.push(`<text x="${Math.round(size * 0.8)}" y="${Math.round(y)}">${escapeXml(words.join(' '))}</text>`);
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><rect width="100%" height="100%" fill="${dark ? '#111' : '#f4f4f4'}"/><g font-family="DejaVu Sans, sans-serif" font-size="${size}" fill="${dark ? '#eee' : '#222'}">${lines.join('')}</g></svg>`;
  const { data, info } = await sharp(Buffer.from(svg)).grayscale().raw().toBuffer({ resolveWithObject: true });
  const px = new Uint8Array(info.width * info.height);
  for (let p = 0; p < px.length; p++) px[p] = data[p * info.channels]!;
  return { w: info.width, h: info.height, px };
}

function shapes(rng: Rng): Gray {
  const w = side(rng);
  const h = side(rng);
  const bg = rng.int(256);
  const items = Array.from({ length: 3 + rng.int(8) }, () => ({
    kind: rng.int(3),
    x: rng.next() * w,
    y: rng.next() * h,
    r: 10 + rng.next() * Math.min(w, h) * 0.25,
    r2: 10 + rng.next() * Math.min(w, h) * 0.25,
    v: rng.int(256),
  }));
  return image(w, h, (x, y) => {
    let v = bg;
    for (const s of items) {
      const inside = s.kind === 0 ? Math.hypot(x - s.x, y - s.y) < s.r : s.kind === 1 ? Math.abs(x - s.x) < s.r && Math.abs(y - s.y) < s.r2 : Math.abs(x - s.x + (y - s.y) * 0.7) < 4;
      if (inside) v = s.v;
    }
    return v;
  });
}

async function writePng(file: string, g: Gray): Promise<void> {
  await writeFileAtomic(file, await sharp(g.px, { raw: { width: g.w, height: g.h, channels: 1 } }).png().toBuffer(), { sync: false });
}

function transform(g: Gray, kind: DerivedOodKind): Gray {
  const { w, h, px } = g;
  if (kind === 'inverted') return { w, h, px: px.map((v) => 255 - v) };
  if (kind === 'upside-down') {
    const out = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) out.set(px.subarray((h - 1 - y) * w, (h - y) * w), y * w);
    return { w, h, px: out };
  }
  // 90° clockwise: (x, y) → (h − 1 − y, x)
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[x * h + (h - 1 - y)] = px[y * w + x]!;
  return { w: h, h: w, px: out };
}

/** Write the out-of-distribution images, one folder per kind under `out`. */
export async function writeOodImages(opts: OodImagesOptions): Promise<OodImagesResult> {
  const per = opts.perKind ?? 24;
  if (!(Number.isInteger(per) && per > 0)) throw optionError('--per-kind', 'a positive integer', per);
  const seed = opts.seed ?? 1;
  const kinds = opts.kinds ?? GENERATED_OOD_KINDS;
  for (const k of kinds) if (!(GENERATED_OOD_KINDS as readonly string[]).includes(k)) throw optionError('--kinds', GENERATED_OOD_KINDS.join(', '), k);
  const counts: Record<string, number> = {};
  for (const [ki, kind] of kinds.entries()) {
    const rng = createRng(seed * 7919 + ki);
    for (let i = 0; i < per; i++) {
      const g = kind === 'noise' ? noise(rng, i) : kind === 'gradients' ? gradient(rng, i) : kind === 'textures' ? texture(rng, i) : kind === 'text' ? await text(rng, i) : shapes(rng);
      await writePng(join(opts.out, kind, `${kind}-${String(i + 1).padStart(3, '0')}.png`), g);
    }
    counts[kind] = per;
  }
  if (opts.from !== undefined) {
    const ds = await loadDataset(opts.from);
    const items = shuffleInPlace([...ds.items], createRng(seed ^ 0x5eed)).slice(0, per);
    for (const kind of DERIVED_OOD_KINDS) counts[kind] = 0;
    for (const [i, it] of items.entries()) {
      let g: Gray;
      try {
        const d = await decodeGray8(it.file);
        g = { w: d.width, h: d.height, px: d.data };
      } catch {
        continue; // an unreadable source image is no test image
      }
      for (const kind of DERIVED_OOD_KINDS) {
        await writePng(join(opts.out, kind, `${kind}-${String(i + 1).padStart(3, '0')}.png`), transform(g, kind));
        counts[kind]!++;
      }
    }
  }
  return { out: opts.out, counts };
}
