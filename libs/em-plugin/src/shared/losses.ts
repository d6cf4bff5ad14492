import * as tf from '@tensorflow/tfjs-core';
// lm's ops also register tfjs-core's gradients (tfjs-core alone registers none).
import { tokenEntropy } from '@emrl/lm';

/**
 * Token-, sequence- and policy-gradient entropy-minimization losses.
 *
 * Alignment (docs/ARCHITECTURE.md): logits[:, t] predict targets[:, t]; lossMask[:, t] = 1 iff
 * targets[:, t] is a response token, so per-position quantities are multiplied by lossMask directly.
 */

export type EntropyPooling = 'token-mean' | 'sequence-mean';

/**
 * Full-vocabulary entropy of softmax(z / tau) at every position [B, T, V] -> [B, T]
 * (lm's tokenEntropy). H = -sum_v p_v log p_v; dH/dz_j = -p_j (log p_j + H) / tau.
 */
export function tokenEntropies(logits: tf.Tensor3D, temperature = 1): tf.Tensor2D {
  checkTemperature(temperature, 'temperature');
  return tokenEntropy(logits, temperature);
}

/**
 * Keeps only the last `fraction` of each row's response positions (RENT, arXiv 2505.22660: the
 * entropy of the last part of a response correlates best with accuracy). A row with n response
 * positions keeps the last ceil(fraction * n) of them (at least one when n > 0).
 */
export function lastFractionMask(lossMask: tf.Tensor2D, fraction: number): tf.Tensor2D {
  if (!(fraction > 0 && fraction <= 1)) {
    throw new Error(`em-plugin losses.ts: lastFraction must be in (0, 1], got ${fraction}; use 1 (or omit it) to count every response position`);
  }
  if (fraction === 1) return tf.clone(lossMask);
  return tf.tidy(() => {
    const mask = tf.cast(tf.greater(lossMask, 0), 'float32') as tf.Tensor2D; // [B, T]
    const n = tf.sum(mask, 1, true); // [B, 1]
    // Response positions counted from the end: 1 for the last, 2 for the one before, ...
    const fromEnd = tf.cumsum(mask, 1, false, true); // [B, T]
    // Subtract a small epsilon so fraction * n that is an integer in exact arithmetic does not round up.
    const keep = tf.maximum(tf.ceil(tf.sub(tf.mul(n, fraction), 1e-4)), 1); // [B, 1]
    return tf.mul(mask, tf.cast(tf.lessEqual(fromEnd, keep), 'float32')) as tf.Tensor2D;
  });
}

/**
 * Pools a per-position quantity [B, T] under a mask [B, T].
 * token-mean: sum(x * m) / sum(m) over the whole batch; sequence-mean: the mean over sequences
 * (with at least one masked position) of each sequence's token mean. An empty mask gives 0.
 */
export function maskedPool(values: tf.Tensor2D, mask: tf.Tensor2D, pooling: EntropyPooling): tf.Scalar {
  return tf.tidy(() => {
    const m = tf.cast(mask, 'float32');
    const weighted = tf.mul(values, m); // [B, T]
    if (pooling === 'token-mean') {
      return tf.div(tf.sum(weighted), tf.maximum(tf.sum(m), 1)) as tf.Scalar;
    }
    const counts = tf.sum(m, 1); // [B]
    const perSeq = tf.div(tf.sum(weighted, 1), tf.maximum(counts, 1)); // [B]
    const present = tf.cast(tf.greater(counts, 0), 'float32'); // [B]
    return tf.div(tf.sum(tf.mul(perSeq, present)), tf.maximum(tf.sum(present), 1)) as tf.Scalar;
  });
}

export interface TokenEntropyLossOptions {
  /** Raw logits [B, T, V] (temperature not applied). */
  logits: tf.Tensor3D;
  /** 1 where the position predicts a response token [B, T]. */
  lossMask: tf.Tensor2D;
  /** Entropy temperature tau: p = softmax(z / tau). One-shot EM uses 0.5. Default 1. */
  temperature?: number;
  /** Default 'token-mean' (one-shot EM, arXiv 2505.20282). */
  pooling?: EntropyPooling;
  /** Count only the last fraction of each response's positions (RENT, arXiv 2505.22660). */
  lastFraction?: number;
}

/**
 * One-shot EM loss (arXiv 2505.20282): mean full-vocabulary entropy of softmax(z / tau) over the
 * response-predicting positions, pooled token-mean over the batch. The sampled tokens are fixed
 * context; the gradient flows through the softmax only.
 */
export function tokenEntropyLoss(opts: TokenEntropyLossOptions): tf.Scalar {
  const { logits, lossMask, temperature = 1 } = opts;
  checkShapes(logits, lossMask);
  return tf.tidy(() => entropyPoolLoss({ ...opts, entropy: tokenEntropies(logits, temperature) }));
}

export interface EntropyPoolLossOptions {
  /** Per-position entropies [B, T] (e.g. LossTermInput.tokenStats(tau).entropy, computed in chunks at a large vocabulary). */
  entropy: tf.Tensor2D;
  lossMask: tf.Tensor2D;
  pooling?: EntropyPooling;
  lastFraction?: number;
}

/** tokenEntropyLoss from entropies already computed [B, T]: the same pooling and last-fraction mask. */
export function entropyPoolLoss(opts: EntropyPoolLossOptions): tf.Scalar {
  const { entropy, lossMask, pooling = 'token-mean', lastFraction } = opts;
  if (entropy.shape[0] !== lossMask.shape[0] || entropy.shape[1] !== lossMask.shape[1]) {
    throw new Error(`em-plugin losses.ts: lossMask shape [${lossMask.shape}] does not match entropies [${entropy.shape}]; both must be [B, T]`);
  }
  return tf.tidy(() => {
    const mask = lastFraction === undefined ? lossMask : lastFractionMask(lossMask, lastFraction);
    return maskedPool(entropy, mask, pooling);
  });
}

function checkTemperature(t: number, field: string): void {
  if (!(t > 0) || !Number.isFinite(t)) {
    throw new Error(`em-plugin losses.ts: ${field} must be a positive finite number, got ${t}`);
  }
}

function checkShapes(logits: tf.Tensor3D, lossMask: tf.Tensor2D): void {
  const [b, t] = logits.shape;
  if (lossMask.shape[0] !== b || lossMask.shape[1] !== t) {
    throw new Error(
      `em-plugin losses.ts: lossMask shape [${lossMask.shape}] does not match logits [${logits.shape}]; lossMask must be [B, T] aligned with the predicting positions`,
    );
  }
}
