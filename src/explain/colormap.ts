/**
 * Perceptual colour maps for heat maps, as 256-entry RGB lookup tables built from Vega's
 * published scheme tables (viridis, inferno, …), loaded lazily so importing this module is cheap.
 */
export type ColormapName = 'viridis' | 'inferno' | 'magma' | 'plasma' | 'turbo';
export const COLORMAPS: readonly ColormapName[] = ['viridis', 'inferno', 'magma', 'plasma', 'turbo'];

const cache = new Map<ColormapName, Uint8Array>();

/** 256 × RGB table: entry k is the colour of value k/255. */
export async function colormapTable(name: ColormapName = 'inferno'): Promise<Uint8Array> {
  const hit = cache.get(name);
  if (hit) return hit;
  const vega = await import('vega');
  const interp = vega.scheme(name) as ((t: number) => string) | undefined;
  if (typeof interp !== 'function') throw new RangeError(`unknown colour map ${name}`);
  const lut = new Uint8Array(256 * 3);
  for (let k = 0; k < 256; k++) {
    const c = parseColour(interp(k / 255));
    lut.set(c, k * 3);
  }
  cache.set(name, lut);
  return lut;
}

/** Vega's interpolators return `rgb(r, g, b)` or `#rrggbb`. */
function parseColour(s: string): [number, number, number] {
  const m = /^rgb\((\d+),\s*(\d+),\s*(\d+)\)$/.exec(s);
  if (m) return [Number(m[1]), Number(m[2]), Number(m[3])];
  const h = /^#([0-9a-f]{6})$/i.exec(s);
  if (h) {
    const v = parseInt(h[1]!, 16);
    return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
  }
  throw new RangeError(`unexpected colour ${s}`);
}
