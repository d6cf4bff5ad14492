import * as tf from '@tensorflow/tfjs-core';
import { toPackedBatch, type PackedArrays } from '../../ops/pack-batch';
import { crossEntropyLoss } from '../cross-entropy';

/** The model surface a gradient shard needs: logits for packed ids, and its parameters in a fixed order. */
export interface ShardModel {
  forward(inputIds: tf.Tensor2D, opts?: { attentionMask?: tf.Tensor2D }): tf.Tensor3D; // [B, T] -> [B, T, V]
}

/** Mean masked cross-entropy of one packed shard and its gradients, in `vars` order (caller disposes). */
export function shardGradients(model: ShardModel, vars: tf.Variable[], packed: PackedArrays): { loss: number; tokens: number; grads: tf.Tensor[] } {
  const tokens = packed.lossMask.reduce((a, v) => a + v, 0);
  if (tokens === 0) return { loss: 0, tokens, grads: [] };
  return tf.tidy(() => {
    const { inputIds, attentionMask, targets, lossMask } = toPackedBatch(packed);
    const { value, grads } = tf.variableGrads(() => crossEntropyLoss(model.forward(inputIds, { attentionMask }), targets, lossMask), vars);
    return { loss: value.dataSync()[0]!, tokens, grads: vars.map((v) => grads[v.name]!) };
  });
}

/**
 * Token-weighted mean of shard gradients: sum_k n_k g_k / sum_k n_k, which equals the gradient of
 * the mean loss over the whole batch (each g_k is the gradient of its shard's mean). Shards with
 * no loss tokens carry no gradients and are skipped. Returns new tensors in `vars` order.
 */
export function combineShardGradients(shards: { tokens: number; grads: tf.Tensor[] }[], count: number): tf.Tensor[] {
  const live = shards.filter((s) => s.tokens > 0);
  const total = live.reduce((a, s) => a + s.tokens, 0);
  if (total === 0) throw new Error('train/data-parallel: the batch has no loss tokens; every shard is empty');
  return tf.tidy(() =>
    Array.from({ length: count }, (_, i) => tf.addN(live.map((s) => tf.mul(s.grads[i]!, s.tokens / total)))),
  );
}

/** Split a batch's rows into at most `parts` contiguous, near-equal shards (none empty). */
export function splitRows<T>(rows: T[], parts: number): T[][] {
  const n = Math.max(1, Math.min(parts, rows.length));
  const out: T[][] = [];
  for (let k = 0; k < n; k++) out.push(rows.slice(Math.floor((k * rows.length) / n), Math.floor(((k + 1) * rows.length) / n)));
  return out;
}
