/** Test helper (not exported): the comparison the backend tests use between onednn and cpu. */

/** max |a − b| / max |b| (the absolute difference when b is all zero). */
export function relErr(a: Float32Array, b: Float32Array): number {
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < b.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    maxRef = Math.max(maxRef, Math.abs(b[i]!));
  }
  return maxRef === 0 ? maxDiff : maxDiff / maxRef;
}
