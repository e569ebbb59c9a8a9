/**
 * The browser's stand-in for Node's zlib, which dicom-parser asks for to inflate deflated DICOM
 * (transfer syntax 1.2.840.10008.1.2.1.99): not available in the web app, so such files are
 * refused with an error instead of pulling a zlib port into the bundle.
 */
export function inflateRawSync(): never {
  throw new Error('deflated DICOM is not supported in the web app (use the CLI)');
}
export default { inflateRawSync };
