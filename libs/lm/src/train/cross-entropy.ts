import * as tf from '@tensorflow/tfjs-core';
import { tokenLogProbs } from '../ops/token-stats';

/**
 * Mean next-token cross-entropy over masked positions: -sum(mask * log p(target)) / sum(mask).
 * logits [B, T, V], targets [B, T] int32, mask [B, T] float32 -> scalar. 0 when the mask is empty.
 */
export function crossEntropyLoss(logits: tf.Tensor3D, targets: tf.Tensor2D, mask: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const nll = tf.neg(tokenLogProbs(logits, targets, 1)); // [B, T]
    const m = tf.cast(mask, 'float32');
    return tf.div(tf.sum(tf.mul(nll, m)), tf.maximum(tf.sum(m), 1e-12)) as tf.Scalar;
  });
}
