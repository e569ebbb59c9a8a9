/** Numbers that summarise a heat map: where it peaks and how much of it sits on the image border. */
import { cellCentre, type CamGeometry } from './geometry.js';

/** Default width of the border band: this fraction of width and of height on each side. */
export const DEFAULT_BORDER_BAND = 0.1;

/**
 * The heat map's maximum in original pixel coordinates. Bilinear upsampling puts the maxima on
 * cell centres, so this is the centre of the hottest cell (first one on ties), rounded.
 */
export function camPeak(cam: Float32Array, g: CamGeometry): { x: number; y: number; cell: { row: number; col: number } } {
  let best = 0;
  for (let k = 1; k < cam.length; k++) if (cam[k]! > cam[best]!) best = k;
  const row = Math.floor(best / g.grid);
  const col = best % g.grid;
  const c = cellCentre(g, row, col);
  const x = Math.min(g.width - 1, Math.max(0, Math.round(c.x)));
  const y = Math.min(g.height - 1, Math.max(0, Math.round(c.y)));
  return { x, y, cell: { row, col } };
}

/**
 * Share of the map's mass in the outer band (`band` of width and height on each side) of a
 * `width`×`height` raster; null when the map is all zero (nothing to share).
 */
export function borderMass(map: Float32Array, width: number, height: number, band = DEFAULT_BORDER_BAND): number | null {
  if (!(band >= 0 && band < 0.5)) throw new RangeError(`border band must be in [0, 0.5), got ${band}`);
  const bw = Math.round(band * width);
  const bh = Math.round(band * height);
  let total = 0;
  let border = 0;
  for (let y = 0; y < height; y++) {
    const edgeRow = y < bh || y >= height - bh;
    const row = y * width;
    for (let x = 0; x < width; x++) {
      const v = map[row + x]!;
      total += v;
      if (edgeRow || x < bw || x >= width - bw) border += v;
    }
  }
  return total > 0 ? border / total : null;
}
