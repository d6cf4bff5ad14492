import * as tf from '@tensorflow/tfjs-core';

function checkShapes(x: tf.Tensor, mask: tf.Tensor, fn: string): void {
  if (x.shape.join(',') !== mask.shape.join(',')) {
    throw new Error(`ops/masked.ts ${fn}: x shape [${x.shape}] and mask shape [${mask.shape}] must match; build the mask with the same [B, T] as x`);
  }
}

/** sum(x * mask) over `axis` (all axes when omitted). Differentiable in x. */
export function maskedSum(x: tf.Tensor, mask: tf.Tensor, axis?: number | number[]): tf.Tensor {
  checkShapes(x, mask, 'maskedSum');
  return tf.tidy(() => tf.sum(tf.mul(x, tf.cast(mask, x.dtype)), axis));
}

/**
 * sum(x * mask) / sum(mask) over `axis` (all axes when omitted). Where the mask sums to 0 the result
 * is 0 (not NaN), so empty rows contribute nothing.
 */
export function maskedMean(x: tf.Tensor, mask: tf.Tensor, axis?: number | number[]): tf.Tensor {
  checkShapes(x, mask, 'maskedMean');
  return tf.tidy(() => {
    const m = tf.cast(mask, 'float32');
    const num = tf.sum(tf.mul(x, m), axis);
    const den = tf.maximum(tf.sum(m, axis), 1e-12);
    return tf.div(num, den);
  });
}

/** Per-row masked mean over the time axis. x, mask [B, T] -> [B] */
export function sequenceMean(x: tf.Tensor2D, mask: tf.Tensor2D): tf.Tensor1D {
  return maskedMean(x, mask, 1) as tf.Tensor1D;
}
