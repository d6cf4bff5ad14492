import * as tf from '@tensorflow/tfjs-core';

/** Added to disallowed attention scores; finite so fully masked (pad) query rows stay NaN-free. */
export const MASK_VALUE = -1e9;

/**
 * Position ids from an attention mask, Hugging Face convention: cumsum(mask) - 1, clamped at 0,
 * so a left-padded prompt gets the same positions as the unpadded one.
 * mask [B, Tk] -> positions of the last `t` columns [B, t] int32.
 */
export function positionIds(mask: tf.Tensor2D, t: number): tf.Tensor2D {
  // Built in JS from the (small) mask: one tensor instead of ~6 kernels per forward (decoding steps).
  const [b, tk] = mask.shape;
  return tf.tensor2d(positionIdsHost(mask.dataSync(), b, tk, t), [b, t], 'int32');
}

/** positionIds on host values: m [B, Tk] (row-major) -> [B, t] positions, row-major. */
export function positionIdsHost(m: ArrayLike<number>, b: number, tk: number, t: number): Int32Array {
  const out = new Int32Array(b * t);
  for (let r = 0; r < b; r++) {
    let c = 0;
    for (let j = 0; j < tk; j++) {
      c += m[r * tk + j]!;
      if (j >= tk - t) out[r * t + j - (tk - t)] = Math.max(c - 1, 0);
    }
  }
  return out;
}

/**
 * Additive causal + padding bias for `t` new queries that sit at the end of `mask` [B, Tk]:
 * query i (absolute index q = Tk - t + i) may attend key j iff j <= q and mask[b, j] = 1, and with a
 * sliding `window` also q - j < window (transformers' sliding_window_overlay, on absolute indices).
 * Returns [B, 1, t, Tk] with 0 where allowed and MASK_VALUE elsewhere.
 */
export function attentionBias(mask: tf.Tensor2D, t: number, window?: number): tf.Tensor4D {
  const [b, tk] = mask.shape;
  return attentionBiasHost(mask.dataSync(), b, tk, t, window);
}

/** attentionBias from host mask values m [B, Tk] (row-major). */
export function attentionBiasHost(m: ArrayLike<number>, b: number, tk: number, t: number, window?: number): tf.Tensor4D {
  const past = tk - t;
  const bias = new Float32Array(b * t * tk).fill(MASK_VALUE);
  for (let r = 0; r < b; r++) {
    for (let i = 0; i < t; i++) {
      const row = (r * t + i) * tk;
      const first = window === undefined ? 0 : Math.max(0, past + i - window + 1);
      for (let j = first; j <= past + i; j++) if (m[r * tk + j] !== 0) bias[row + j] = 0;
    }
  }
  return tf.tensor4d(bias, [b, 1, t, tk]);
}
