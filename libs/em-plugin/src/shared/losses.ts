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
  const { logits, lossMask, temperature = 1, pooling = 'token-mean', lastFraction } = opts;
  checkShapes(logits, lossMask);
  return tf.tidy(() => {
    const h = tokenEntropies(logits, temperature); // [B, T]
    const mask = lastFraction === undefined ? lossMask : lastFractionMask(lossMask, lastFraction);
    return maskedPool(h, mask, pooling);
  });
}

export type EmRlRewardKind = 'token' | 'sequence';

export interface SequenceEntropyRewardsOptions {
  /** 'token': r = -sum_t H_t (needs logits); 'sequence': r = log pi(y|x) = sum_t logp_t (needs logprobs). */
  kind: EmRlRewardKind;
  /** Raw logits [B, T, V] (for kind 'token'). */
  logits?: tf.Tensor3D;
  /** Log-probs of the sampled tokens at the sampling temperature [B, T] (for kind 'sequence'). */
  logprobs?: tf.Tensor2D;
  lossMask: tf.Tensor2D;
  /** Entropy temperature for kind 'token'. Default 1. */
  temperature?: number;
}

/**
 * EM-RL rewards (arXiv 2505.15134), one per sequence, as plain numbers (no gradient):
 * token-level r = -sum_t H_t over response positions, or sequence-level r = log pi(y|x).
 * Higher reward = more confident.
 */
export function sequenceEntropyRewards(opts: SequenceEntropyRewardsOptions): number[] {
  const { kind, lossMask, temperature = 1 } = opts;
  const values = tf.tidy(() => {
    const m = tf.cast(lossMask, 'float32');
    if (kind === 'token') {
      if (!opts.logits) throw new Error("em-plugin losses.ts sequenceEntropyRewards: kind 'token' needs `logits` [B, T, V]");
      checkShapes(opts.logits, lossMask);
      return tf.neg(tf.sum(tf.mul(tokenEntropies(opts.logits, temperature), m), 1));
    }
    if (!opts.logprobs) throw new Error("em-plugin losses.ts sequenceEntropyRewards: kind 'sequence' needs `logprobs` [B, T]");
    return tf.sum(tf.mul(opts.logprobs, m), 1);
  });
  const out = Array.from(values.dataSync());
  values.dispose();
  return out;
}

export type EmRlBaseline = 'batch-mean' | 'group-mean' | 'none';

export interface EmRlLossOptions {
  /** Differentiable log-probs of the sampled tokens [B, T]. */
  logprobs: tf.Tensor2D;
  lossMask: tf.Tensor2D;
  /** One reward per sequence (treated as constants), e.g. from sequenceEntropyRewards. */
  rewards: readonly number[];
  /** Baseline b subtracted from each reward. Default 'batch-mean'. */
  baseline?: EmRlBaseline;
  /** Group size G for 'group-mean' (consecutive rows form a group of completions of one prompt). */
  groupSize?: number;
}

/** Baseline-subtracted rewards r - b (plain numbers). */
export function emRlAdvantages(rewards: readonly number[], baseline: EmRlBaseline = 'batch-mean', groupSize?: number): number[] {
  if (baseline === 'none') return [...rewards];
  if (baseline === 'batch-mean') {
    const mean = rewards.reduce((a, b) => a + b, 0) / Math.max(rewards.length, 1);
    return rewards.map((r) => r - mean);
  }
  if (!groupSize || groupSize < 1 || rewards.length % groupSize !== 0) {
    throw new Error(
      `em-plugin losses.ts emRlLoss: baseline 'group-mean' needs groupSize dividing the batch (${rewards.length}), got ${groupSize}; set groupSize to completions per prompt`,
    );
  }
  const out: number[] = [];
  for (let g = 0; g < rewards.length; g += groupSize) {
    const group = rewards.slice(g, g + groupSize);
    const mean = group.reduce((a, b) => a + b, 0) / groupSize;
    for (const r of group) out.push(r - mean);
  }
  return out;
}

/**
 * EM-RL policy-gradient loss (REINFORCE with a baseline, arXiv 2505.15134):
 * L = -(1/B) sum_b (r_b - b) * sum_t m_{b,t} logp_{b,t}. Minimizing it raises the likelihood of
 * sequences with above-baseline reward (i.e. more confident ones for the EM rewards).
 */
export function emRlLoss(opts: EmRlLossOptions): tf.Scalar {
  const { logprobs, lossMask, rewards, baseline = 'batch-mean', groupSize } = opts;
  const [b] = logprobs.shape;
  if (rewards.length !== b) {
    throw new Error(`em-plugin losses.ts emRlLoss: rewards has ${rewards.length} entries but logprobs has batch ${b}; pass one reward per sequence`);
  }
  const adv = emRlAdvantages(rewards, baseline, groupSize);
  return tf.tidy(() => {
    const seqLogp = tf.sum(tf.mul(logprobs, tf.cast(lossMask, 'float32')), 1); // [B]
    return tf.neg(tf.mean(tf.mul(seqLogp, tf.tensor1d(adv)))) as tf.Scalar;
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
