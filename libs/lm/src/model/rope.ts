import * as tf from '@tensorflow/tfjs-core';
import type { RopeFrequencies } from './rope-scaling';

// Rotary position embeddings (RoFormer, arXiv 2104.09864) in the Hugging Face "rotate_half"
// convention: the rotated pairs are (x[i], x[i + d/2]), not adjacent elements.

/** inv_freq[i] = theta^(-2i/d), i < d/2. */
export function ropeInvFreq(headDim: number, theta: number): Float32Array {
  const half = headDim / 2;
  const out = new Float32Array(half);
  for (let i = 0; i < half; i++) out[i] = 1 / Math.pow(theta, (2 * i) / headDim);
  return out;
}

/**
 * cos/sin tables for positions [N] (any numeric dtype) -> each [N, 1, headDim] (broadcast over heads).
 * `freqs` is a rotary base theta, or precomputed frequencies (rope scaling, see rope-scaling.ts)
 * whose attention factor multiplies cos and sin as in transformers.
 */
export function ropeTables(positions: tf.Tensor1D, headDim: number, freqs: number | RopeFrequencies): { cos: tf.Tensor3D; sin: tf.Tensor3D } {
  const { invFreq: inv, attentionScaling } = typeof freqs === 'number' ? { invFreq: ropeInvFreq(headDim, freqs), attentionScaling: 1 } : freqs;
  return tf.tidy(() => {
    const invFreq = tf.tensor2d(inv, [1, headDim / 2]);
    const n = positions.shape[0];
    const angles = tf.matMul(tf.reshape(tf.cast(positions, 'float32'), [n, 1]), invFreq); // [N, d/2]
    const emb = tf.concat([angles, angles], 1); // [N, d]
    const shape: [number, number, number] = [n, 1, headDim];
    const scale = (t: tf.Tensor): tf.Tensor => (attentionScaling === 1 ? t : tf.mul(t, attentionScaling));
    return { cos: tf.reshape(scale(tf.cos(emb)), shape), sin: tf.reshape(scale(tf.sin(emb)), shape) };
  });
}

/**
 * ropeTables built in JS from positions already on the host (decoding steps): the same float32
 * values (angle = fround(pos * invFreq), cos/sin rounded to float32, times the attention factor)
 * as two new tensors instead of ~8 op dispatches. -> each [N, 1, headDim].
 */
export function ropeTablesFromPositions(positions: ArrayLike<number>, headDim: number, freqs: number | RopeFrequencies): { cos: tf.Tensor3D; sin: tf.Tensor3D } {
  const { invFreq: inv, attentionScaling } = typeof freqs === 'number' ? { invFreq: ropeInvFreq(headDim, freqs), attentionScaling: 1 } : freqs;
  const n = positions.length;
  const half = headDim / 2;
  const cos = new Float32Array(n * headDim);
  const sin = new Float32Array(n * headDim);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround((positions[r] as number) * (inv[i] as number));
      const c = Math.fround(Math.cos(angle));
      const s = Math.fround(Math.sin(angle));
      const cv = attentionScaling === 1 ? c : c * attentionScaling;
      const sv = attentionScaling === 1 ? s : s * attentionScaling;
      cos[r * headDim + i] = cv;
      cos[r * headDim + i + half] = cv;
      sin[r * headDim + i] = sv;
      sin[r * headDim + i + half] = sv;
    }
  }
  return { cos: tf.tensor3d(cos, [n, 1, headDim]), sin: tf.tensor3d(sin, [n, 1, headDim]) };
}

/** rotate_half(x) = concat(-x2, x1) over the last axis. */
export function rotateHalf(x: tf.Tensor3D): tf.Tensor3D {
  const half = x.shape[2] / 2;
  const [x1, x2] = tf.split(x, [half, half], 2);
  return tf.concat([tf.neg(x2 as tf.Tensor3D), x1 as tf.Tensor3D], 2);
}

/** x [N, H, d] -> x*cos + rotate_half(x)*sin. */
export function applyRope(x: tf.Tensor3D, cos: tf.Tensor3D, sin: tf.Tensor3D): tf.Tensor3D {
  return tf.add(tf.mul(x, cos), tf.mul(rotateHalf(x), sin));
}
