import * as tf from '@tensorflow/tfjs-core';

/** Added to disallowed attention scores; finite so fully masked (pad) query rows stay NaN-free. */
export const MASK_VALUE = -1e9;

/**
 * Position ids from an attention mask, Hugging Face convention: cumsum(mask) - 1, clamped at 0,
 * so a left-padded prompt gets the same positions as the unpadded one.
 * mask [B, Tk] -> positions of the last `t` columns [B, t] int32.
 */
export function positionIds(mask: tf.Tensor2D, t: number): tf.Tensor2D {
  return tf.tidy(() => {
    const tk = mask.shape[1];
    const pos = tf.maximum(tf.sub(tf.cumsum(tf.cast(mask, 'float32'), 1), 1), 0); // [B, Tk]
    const last = tk === t ? pos : tf.slice(pos, [0, tk - t], [-1, t]);
    return tf.cast(last, 'int32') as tf.Tensor2D;
  });
}

/**
 * Additive causal + padding bias for `t` new queries that sit at the end of `mask` [B, Tk]:
 * query i (absolute index Tk - t + i) may attend key j iff j <= Tk - t + i and mask[b, j] = 1.
 * Returns [B, 1, t, Tk] with 0 where allowed and MASK_VALUE elsewhere.
 */
export function attentionBias(mask: tf.Tensor2D, t: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, tk] = mask.shape;
    const past = tk - t;
    const causal = new Float32Array(t * tk);
    for (let i = 0; i < t; i++) for (let j = 0; j <= past + i; j++) causal[i * tk + j] = 1;
    const allowed = tf.mul(tf.tensor3d(causal, [1, t, tk]), tf.reshape(tf.cast(mask, 'float32'), [b, 1, tk])); // [B, t, Tk]
    return tf.reshape(tf.mul(tf.sub(1, allowed), MASK_VALUE), [b, 1, t, tk]) as tf.Tensor4D;
  });
}
