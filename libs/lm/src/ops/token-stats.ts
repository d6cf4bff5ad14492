import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone registers no gradients; ops here are used under tf.grad.

function checkTemperature(temperature: number): void {
  if (!(temperature > 0) || !Number.isFinite(temperature)) {
    throw new Error(`ops/token-stats.ts: temperature must be a finite number > 0, got ${temperature}; greedy decoding has no log-probs, use a small positive value`);
  }
}

/** log_softmax(logits / temperature) over the vocabulary. [B, T, V] -> [B, T, V] */
export function logSoftmaxAt(logits: tf.Tensor3D, temperature = 1): tf.Tensor3D {
  checkTemperature(temperature);
  return tf.tidy(() => tf.logSoftmax(temperature === 1 ? logits : tf.div(logits, temperature), -1) as tf.Tensor3D);
}

/** Pick logp[b, t, targets[b, t]] as a one-hot contraction, whose gradient needs no gather. */
function pickTargets(logp: tf.Tensor3D, targets: tf.Tensor2D): tf.Tensor2D {
  const V = logp.shape[2];
  // int32 one-hot then cast: tfjs-backend-wasm 4.22 OneHot ignores dtype 'float32' and writes int32 bits.
  const oneHot = tf.cast(tf.oneHot(tf.cast(targets, 'int32'), V), 'float32'); // [B, T, V]
  return tf.sum(tf.mul(logp, oneHot), -1) as tf.Tensor2D; // [B, T]
}

/** Entropy per position from log-probs: H = -sum p log p = logsumexp(z') - sum p z'. [B, T, V] -> [B, T] */
function entropyFromLogp(logp: tf.Tensor3D): tf.Tensor2D {
  return tf.neg(tf.sum(tf.mul(tf.exp(logp), logp), -1)) as tf.Tensor2D;
}

/**
 * Per-token log-probabilities of `targets` under softmax(logits / temperature).
 * logits [B, T, V] float32, targets [B, T] int32 -> [B, T]. Differentiable w.r.t. logits.
 */
export function tokenLogProbs(logits: tf.Tensor3D, targets: tf.Tensor2D, temperature = 1): tf.Tensor2D {
  return tf.tidy(() => pickTargets(logSoftmaxAt(logits, temperature), targets));
}

/**
 * Full-vocabulary entropy of softmax(logits / temperature) at every position.
 * Computed from the max-shifted log-softmax, so large logits do not overflow. [B, T, V] -> [B, T]
 */
export function tokenEntropy(logits: tf.Tensor3D, temperature = 1): tf.Tensor2D {
  return tf.tidy(() => entropyFromLogp(logSoftmaxAt(logits, temperature)));
}

/** Log-probs of targets and entropy from one log-softmax (cheaper than calling both). */
export function tokenLogProbsAndEntropy(
  logits: tf.Tensor3D,
  targets: tf.Tensor2D,
  temperature = 1,
): { logProbs: tf.Tensor2D; entropy: tf.Tensor2D } {
  return tf.tidy(() => {
    const logp = logSoftmaxAt(logits, temperature);
    return { logProbs: pickTargets(logp, targets), entropy: entropyFromLogp(logp) };
  });
}
