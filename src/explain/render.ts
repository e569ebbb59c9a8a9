/**
 * Pictures of heat maps: the overlay PNG (the original image in gray, the heat map in a
 * perceptual colour map, a colour bar, a caption with the research notice), the raw heat map as a
 * 16-bit gray PNG in original geometry, and contact sheets. sharp does all raster work; text and
 * the colour bar labels are SVG rendered by sharp (librsvg + fontconfig).
 */
import sharp from 'sharp';
import { RESEARCH_NOTICE } from '../types.js';
import type { GrayImage } from '../data/types.js';
import { resampleToOriginal, type CamGeometry } from './geometry.js';
import { displayBox, normalised, overlayPixels } from './composite.js';
import { colormapTable, type ColormapName } from './colormap.js';
import { escapeXml } from '../util/xml.js';

/** Re-exported for the cropping experiment's page (src/explain/experiment.ts); its home is src/util/xml.ts. */

export interface OverlayOptions {
  colormap?: ColormapName | undefined;
  /** Longest side of the picture part, in pixels (large images are shrunk, small ones enlarged). */
  maxSide?: number | undefined;
  minSide?: number | undefined;
  /** Mark this point (original pixels) with a small cross: the heat-map peak. */
  peak?: { x: number; y: number } | undefined;
}

const FONT = "DejaVu Sans, Liberation Sans, Arial, sans-serif";
const CAPTION_LINE = 17;
const BAR_AREA = 78;

/** Display size: the original shape, longest side within [minSide, maxSide]. */
export function displaySize(width: number, height: number, minSide = 384, maxSide = 768): { width: number; height: number } {
  const long = Math.max(width, height);
  const scale = long > maxSide ? maxSide / long : long < minSide ? minSide / long : 1;
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/** Gray image → 8-bit buffer of the given size (area-averaged when shrinking). */
async function grayAt(image: GrayImage, width: number, height: number): Promise<Uint8Array> {
  const u8 = new Uint8Array(image.width * image.height);
  for (let i = 0; i < u8.length; i++) u8[i] = Math.round(Math.min(1, Math.max(0, image.data[i]!)) * 255);
  const buf = await sharp(u8, { raw: { width: image.width, height: image.height, channels: 1 } })
    .resize(width, height, { fit: 'fill', kernel: 'lanczos3' })
    .extractChannel(0) // sharp hands back sRGB (3 bands) even for 1-band input
    .raw()
    .toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

/** Overlay PNG: image + heat map + colour bar + caption lines + the research notice. */
export async function renderOverlay(
  image: GrayImage,
  cam: Float32Array,
  g: CamGeometry,
  caption: readonly string[],
  opts: OverlayOptions = {},
): Promise<Buffer> {
  const lut = await colormapTable(opts.colormap ?? 'inferno');
  const d = displaySize(g.width, g.height, opts.minSide ?? 384, opts.maxSide ?? 768);
  const gray = await grayAt(image, d.width, d.height);
  const rgb = overlayPixels(gray, cam, g, d, lut);
  const sx = d.width / g.width;
  const sy = d.height / g.height;
  const lines = [...caption, RESEARCH_NOTICE];
  const W = d.width + BAR_AREA;
  const H = d.height + 10 + lines.length * CAPTION_LINE + 6;
  const barH = Math.max(40, d.height - 20);
  const bar = new Uint8Array(14 * barH * 3);
  for (let y = 0; y < barH; y++) {
    const c = Math.round((1 - y / (barH - 1)) * 255) * 3;
    for (let x = 0; x < 14; x++) bar.set([lut[c]!, lut[c + 1]!, lut[c + 2]!], (y * 14 + x) * 3);
  }
  const svg = overlaySvg(W, H, d, lines, barH, opts.peak ? { x: (opts.peak.x + 0.5) * sx, y: (opts.peak.y + 0.5) * sy } : undefined,
    g.box.width < g.width || g.box.height < g.height ? displayBox(g, d) : undefined);
  return sharp({ create: { width: W, height: H, channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .composite([
      { input: Buffer.from(rgb.buffer), raw: { width: d.width, height: d.height, channels: 3 }, left: 0, top: 0 },
      { input: Buffer.from(bar.buffer), raw: { width: 14, height: barH, channels: 3 }, left: d.width + 12, top: 10 },
      { input: Buffer.from(svg), left: 0, top: 0 },
    ])
    .removeAlpha()
    .png()
    .toBuffer();
}

function overlaySvg(
  W: number,
  H: number,
  d: { width: number; height: number },
  lines: readonly string[],
  barH: number,
  peak: { x: number; y: number } | undefined,
  box: { x0: number; y0: number; x1: number; y1: number } | undefined,
): string {
  const bx = d.width + 12;
  const parts: string[] = [];
  parts.push(`<rect x="${bx}" y="10" width="14" height="${barH}" fill="none" stroke="#444" stroke-width="1"/>`);
  for (const [t, label] of [[0, '1.0'], [0.5, '0.5'], [1, '0.0']] as const) {
    const y = 10 + t * barH;
    parts.push(`<line x1="${bx + 14}" y1="${y}" x2="${bx + 18}" y2="${y}" stroke="#444"/>`);
    parts.push(`<text x="${bx + 21}" y="${y + 4}" font-size="11">${label}</text>`);
  }
  parts.push(`<text transform="translate(${bx + 58},${10 + barH / 2}) rotate(90)" text-anchor="middle" font-size="11">Grad-CAM (relative)</text>`);
  if (box) {
    parts.push(`<rect x="${box.x0}" y="${box.y0}" width="${box.x1 - box.x0}" height="${box.y1 - box.y0}" fill="none" stroke="#00e5ff" stroke-width="1.5" stroke-dasharray="6 4"/>`);
  }
  if (peak) {
    const r = 7;
    parts.push(`<g stroke="#00e5ff" stroke-width="2"><line x1="${peak.x - r}" y1="${peak.y}" x2="${peak.x + r}" y2="${peak.y}"/><line x1="${peak.x}" y1="${peak.y - r}" x2="${peak.x}" y2="${peak.y + r}"/></g>`);
  }
  lines.forEach((line, i) => {
    const y = d.height + 10 + (i + 1) * CAPTION_LINE - 4;
    const last = i === lines.length - 1;
    parts.push(`<text x="6" y="${y}" font-size="${last ? 11 : 13}"${last ? ' fill="#8a1c1c"' : ''}>${escapeXml(fit(line, W, last ? 11 : 13))}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="${FONT}" fill="#111">${parts.join('')}</svg>`;
}

/** Shorten a line to what fits in `width` pixels (DejaVu Sans averages ~0.6 em per character). */
function fit(s: string, width: number, fontSize: number): string {
  const max = Math.max(8, Math.floor((width - 12) / (fontSize * 0.6)));
  return s.length <= max ? s : s.slice(0, max - 1) + '…';
}

/** The heat map in original geometry, normalised to its maximum, as a 16-bit gray PNG (0 outside the crop box). */
export async function heatmapPng16(cam: Float32Array, g: CamGeometry): Promise<Buffer> {
  const map = resampleToOriginal(normalised(cam), g);
  const u16 = new Uint16Array(map.length);
  for (let i = 0; i < map.length; i++) u16[i] = Math.round(Math.min(1, Math.max(0, map[i]!)) * 65535);
  return sharp(u16, { raw: { width: g.width, height: g.height, channels: 1 } }).toColourspace('grey16').png().toBuffer();
}

export interface SheetTile {
  png: Buffer;
  label: string;
}

/** A grid of PNG tiles (each shrunk to fit `tile`×`tile`) with a label under each and a title on top. */
export async function contactSheet(tiles: readonly SheetTile[], title: string, opts: { columns?: number; tile?: number } = {}): Promise<Buffer> {
  const cols = Math.max(1, Math.min(opts.columns ?? 6, tiles.length));
  const tile = opts.tile ?? 240;
  const labelH = 18;
  const titleH = 44;
  const rows = Math.ceil(tiles.length / cols);
  const W = cols * (tile + 8) + 8;
  const H = titleH + rows * (tile + labelH + 8) + 8;
  const comps: sharp.OverlayOptions[] = [];
  const texts: string[] = [
    `<text x="8" y="20" font-size="15" font-weight="bold">${escapeXml(fit(title, W, 15))}</text>`,
    `<text x="8" y="37" font-size="11" fill="#8a1c1c">${escapeXml(RESEARCH_NOTICE)}</text>`,
  ];
  for (const [i, t] of tiles.entries()) {
    const x = 8 + (i % cols) * (tile + 8);
    const y = titleH + Math.floor(i / cols) * (tile + labelH + 8);
    const img = await sharp(t.png).resize(tile, tile, { fit: 'contain', background: { r: 255, g: 255, b: 255 } }).png().toBuffer();
    comps.push({ input: img, left: x, top: y });
    texts.push(`<text x="${x}" y="${y + tile + 13}" font-size="11">${escapeXml(fit(t.label, tile + 8, 11))}</text>`);
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="${FONT}" fill="#111">${texts.join('')}</svg>`;
  comps.push({ input: Buffer.from(svg), left: 0, top: 0 });
  return sharp({ create: { width: W, height: H, channels: 3, background: { r: 255, g: 255, b: 255 } } }).composite(comps).removeAlpha().png().toBuffer();
}
