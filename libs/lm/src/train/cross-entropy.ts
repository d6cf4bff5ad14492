import * as tf from '@tensorflow/tfjs-core';
import { maskedMean } from '../ops/masked';
import { tokenLogProbs } from '../ops/token-stats';

/**
 * Mean next-token cross-entropy over masked positions: -sum(mask * log p(target)) / sum(mask).
 * logits [B, T, V], targets [B, T] int32, mask [B, T] float32 -> scalar. 0 when the mask is empty.
 */
export function crossEntropyLoss(logits: tf.Tensor3D, targets: tf.Tensor2D, mask: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => maskedMean(tf.neg(tokenLogProbs(logits, targets, 1)), mask) as tf.Scalar); // [B, T] -> scalar
}
