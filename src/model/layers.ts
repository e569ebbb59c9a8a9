/**
 * Custom layers of the siamese net. TF.js Layers has no Keras `Lambda`, so |a − b| is a small
 * serializable layer; `registerCustomLayers()` must run before a saved siamese model is loaded
 * (the model builders and loaders call it).
 */
import * as tf from '../tf.js';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology.js';

/** Config of `AbsDiff`: nothing beyond the standard layer arguments (name, trainable). */
export type AbsDiffConfig = LayerArgs;

/** Element-wise |a − b| of two tensors of the same shape (the siamese "L1 distance" vector). */
export class AbsDiff extends tf.layers.Layer {
  static className = 'AbsDiff';

  constructor(config: AbsDiffConfig = {}) {
    super(config);
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    const shapes = inputShape as tf.Shape[];
    if (!Array.isArray(shapes[0]) || shapes.length !== 2) {
      throw new Error(`AbsDiff expects two inputs, got ${JSON.stringify(inputShape)}`);
    }
    return shapes[0];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const [a, b] = inputs as tf.Tensor[];
      return tf.abs(tf.sub(a!, b!));
    });
  }
}

let registered = false;
/** Register the custom layers for (de)serialization; idempotent. */
export function registerCustomLayers(): void {
  if (registered) return;
  tf.serialization.registerClass(AbsDiff);
  registered = true;
}
