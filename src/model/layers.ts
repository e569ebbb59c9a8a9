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

/**
 * Row-wise x / √(‖x‖₂² + 1e-12): unit-length embeddings (the contrastive recipe, docs/siamese.md), so the distance
 * of a pair is bounded and cannot shrink or grow just by rescaling the encoder output. (No
 * `maximum`: its gradient casts a bool mask, which the onednn backend got wrong when this was written.)
 */
export class L2Normalize extends tf.layers.Layer {
  static className = 'L2Normalize';

  constructor(config: LayerArgs = {}) {
    super(config);
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      return tf.mul(x, tf.rsqrt(tf.add(tf.sum(tf.square(x), -1, true), 1e-12)));
    });
  }
}

let registered = false;
/** Register the custom layers for (de)serialization; idempotent. */
export function registerCustomLayers(): void {
  if (registered) return;
  tf.serialization.registerClass(AbsDiff);
  tf.serialization.registerClass(L2Normalize);
  registered = true;
}
