/**
 * The overlay's pixels: the gray image with the heat map blended in a colour map, inside the crop
 * box only. Pure, shared by the PNG renderer (./render.ts, sharp) and the browser app (src/web, canvas).
 */
import { resampleToOriginal, type CamGeometry } from './geometry.js';

export function normalised(cam: Float32Array): Float32Array {
  let max = 0;
  for (const v of cam) if (v > max) max = v;
  return max > 0 ? cam.map((v) => v / max) : new Float32Array(cam.length);
}

/** The network's input box (after crop) in display pixels of size `d`. */
export function displayBox(g: CamGeometry, d: { width: number; height: number }): { x0: number; y0: number; x1: number; y1: number } {
  const sx = d.width / g.width;
  const sy = d.height / g.height;
  return { x0: g.box.left * sx, x1: (g.box.left + g.box.width) * sx, y0: g.box.top * sy, y1: (g.box.top + g.box.height) * sy };
}

/**
 * RGB (3 bytes per pixel) of the overlay at display size `d`: `gray` is the image already scaled
 * to d (8-bit), `cam` the raw map on the feature grid, `lut` a 256 × RGB colour table.
 */
export function overlayPixels(gray: Uint8Array, cam: Float32Array, g: CamGeometry, d: { width: number; height: number }, lut: Uint8Array): Uint8Array {
  const heat = resampleToOriginal(normalised(cam), g, d.width, d.height);
  const { x0: bx0, x1: bx1, y0: by0, y1: by1 } = displayBox(g, d);
  const rgb = new Uint8Array(d.width * d.height * 3);
  for (let y = 0; y < d.height; y++) {
    const inY = y + 0.5 >= by0 && y + 0.5 < by1;
    for (let x = 0; x < d.width; x++) {
      const k = y * d.width + x;
      const v = gray[k]!;
      const inside = inY && x + 0.5 >= bx0 && x + 0.5 < bx1;
      if (!inside) {
        // what the network never saw stays plain gray
        rgb[3 * k] = rgb[3 * k + 1] = rgb[3 * k + 2] = v;
        continue;
      }
      const h = heat[k]!;
      const c = Math.min(255, Math.max(0, Math.round(h * 255))) * 3;
      const a = 0.2 + 0.5 * h; // faint tint where the heat is low, so the image stays readable
      rgb[3 * k] = Math.round(v * (1 - a) + lut[c]! * a);
      rgb[3 * k + 1] = Math.round(v * (1 - a) + lut[c + 1]! * a);
      rgb[3 * k + 2] = Math.round(v * (1 - a) + lut[c + 2]! * a);
    }
  }
  return rgb;
}
