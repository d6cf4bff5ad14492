import * as tf from '@tensorflow/tfjs-core';

/** Named gradients, e.g. the `grads` of tf.variableGrads (keyed by variable name). */
export type GradMap = tf.NamedTensorMap;

/** Global L2 norm over all gradients, sqrt(sum_i ||g_i||^2). */
export function globalNorm(grads: GradMap): number {
  const list = Object.values(grads);
  if (list.length === 0) return 0;
  return tf.tidy(() => tf.sqrt(tf.addN(list.map((g) => tf.sum(tf.square(g))))).dataSync()[0]!);
}

/**
 * torch.nn.utils.clip_grad_norm_ semantics: scale every gradient by min(1, maxNorm / (norm + 1e-6)).
 * `maxNorm` 0 turns clipping off. Returns the pre-clip norm. When no scaling happens the returned map
 * holds the input tensors themselves; otherwise new tensors (the inputs are not disposed), so call it
 * inside tf.tidy or dispose both maps.
 */
export function clipGlobalNorm(grads: GradMap, maxNorm: number): { grads: GradMap; norm: number } {
  if (!(maxNorm >= 0)) throw new Error(`optim/clip.ts: maxNorm must be >= 0 (0 = off), got ${maxNorm}`);
  const norm = globalNorm(grads);
  if (maxNorm === 0) return { grads, norm };
  const coef = Math.min(1, maxNorm / (norm + 1e-6));
  if (coef >= 1) return { grads, norm };
  const out: GradMap = {};
  for (const [k, g] of Object.entries(grads)) out[k] = tf.mul(g, coef);
  return { grads: out, norm };
}
