/**
 * The one TensorFlow.js namespace the project uses: core + layers + the JS `cpu` backend
 * (which the native `onednn` backend extends). Import tf from here, never from the packages.
 */
import '@tensorflow/tfjs-backend-cpu';
import { env } from '@tensorflow/tfjs-core';

export * from '@tensorflow/tfjs-core';
export * from '@tensorflow/tfjs-layers';
// The class the native `onednn` backend (src/backend/onednn.ts) extends.
export { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';

// The cpu backend prints a "install tfjs-node" banner on first use unless PROD is set; the
// library must not write to the console, and tfjs-node is not what we want anyway.
env().set('PROD', true);
