import type * as tf from '@tensorflow/tfjs-core';

/**
 * A transform applied to the logits at the end of every forward pass (and so in generation),
 * e.g. the confidence-compression layer. `apply` must not dispose its input.
 */
export interface LogitsAdapter {
  name: string;
  variables(): tf.Variable[];
  apply(logits: tf.Tensor3D): tf.Tensor3D; // [B, T, V] -> [B, T, V]
  /**
   * JSON-serializable file content, when the adapter can be saved: training checkpoints write it
   * as `adapters/<name>.json` beside the model, so an attached adapter travels with every checkpoint.
   */
  toJSON?(): unknown;
}
