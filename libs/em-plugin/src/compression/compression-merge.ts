import * as tf from '@tensorflow/tfjs-core';
import { TemperatureAdapter, VectorScalingAdapter, type CompressionAdapter } from './compression';

/**
 * Folding a compression layer into the model's weights, in Hugging Face layout (the map returned
 * by `model.toHfTensors()`; a tied lm_head is absent there). Logits are z = y W^T with y the final
 * norm's output (g * n + b) and W [V, D] the head (lm_head.weight, or the tied embedding).
 *
 * - Temperature: z / T = (g / T * n + b / T) W^T, so scaling the final norm's weight (and bias)
 *   by 1/T is exact for tied and untied heads alike (no lm_head bias exists in gpt2/llama/qwen2).
 * - Vector scaling (+ low rank): z * a + (z Wa) Wb = y (diag(a) W + Wb^T Wa^T W)^T is exact only
 *   for an UNTIED head (changing a tied embedding would also change the inputs) and only when
 *   the per-vocab bias is zero (these heads have no bias to absorb it). Otherwise the merge is
 *   refused with the reason; keep the adapter as a file instead.
 */

export type MergeResult =
  | {
      ok: true;
      /** New map: replaced entries are new tensors, all others are the input tensors themselves. */
      tensors: Map<string, tf.Tensor>;
      changed: string[];
      method: string;
    }
  | { ok: false; reason: string };

const FINAL_NORMS: [string, string | null][] = [
  ['transformer.ln_f.weight', 'transformer.ln_f.bias'],
  ['model.norm.weight', null],
];

export function mergeIntoHead(adapter: CompressionAdapter, hf: ReadonlyMap<string, tf.Tensor>): MergeResult {
  if (adapter instanceof TemperatureAdapter) return mergeTemperature(adapter, hf);
  if (adapter instanceof VectorScalingAdapter) return mergeVectorScaling(adapter, hf);
  return { ok: false, reason: `no exact merge is known for adapter kind "${adapter.kind}"` };
}

function mergeTemperature(adapter: TemperatureAdapter, hf: ReadonlyMap<string, tf.Tensor>): MergeResult {
  const norm = FINAL_NORMS.find(([w]) => hf.has(w));
  if (!norm) {
    return { ok: false, reason: `no final norm weight found (looked for ${FINAL_NORMS.map(([w]) => w).join(', ')}); pass model.toHfTensors()` };
  }
  // A head bias (none in gpt2/llama/qwen2) is scaled too, which keeps the merge exact.
  const inv = 1 / adapter.temperature();
  const names = [norm[0], ...(norm[1] && hf.has(norm[1]) ? [norm[1]] : []), ...(hf.has('lm_head.bias') ? ['lm_head.bias'] : [])];
  const out = new Map(hf);
  for (const name of names) out.set(name, tf.tidy(() => tf.mul(hf.get(name)!, inv)));
  return { ok: true, tensors: out, changed: names, method: `scaled ${names.join(', ')} by 1/T = ${inv}` };
}

function mergeVectorScaling(adapter: VectorScalingAdapter, hf: ReadonlyMap<string, tf.Tensor>): MergeResult {
  const head = hf.get('lm_head.weight');
  if (!head) {
    return {
      ok: false,
      reason: 'the head is tied to the input embedding (no lm_head.weight); per-vocab scaling cannot be merged exactly, keep the adapter file',
    };
  }
  const maxBias = tf.tidy(() => tf.max(tf.abs(adapter.bias)).dataSync()[0]!);
  if (maxBias > 0 && !hf.has('lm_head.bias')) {
    return { ok: false, reason: `the adapter has a per-vocab bias (max |b| = ${maxBias}) and the head has no bias to absorb it; keep the adapter file` };
  }
  const [v] = head.shape;
  if (v !== adapter.vocabSize) {
    return { ok: false, reason: `lm_head.weight has V = ${v}, the adapter has vocabSize ${adapter.vocabSize}` };
  }
  const out = new Map(hf);
  const merged = tf.tidy(() => {
    let w = tf.mul(head, tf.reshape(adapter.scale, [v!, 1])) as tf.Tensor2D; // diag(a) W, [V, D]
    if (adapter.wa && adapter.wb) {
      const waTw = tf.matMul(adapter.wa, head as tf.Tensor2D, true, false); // Wa^T W, [r, D]
      w = tf.add(w, tf.matMul(adapter.wb, waTw, true, false)); // + Wb^T (Wa^T W), [V, D]
    }
    return w;
  });
  out.set('lm_head.weight', merged);
  const changed = ['lm_head.weight'];
  const headBias = hf.get('lm_head.bias');
  if (headBias) {
    // b_head' = b_head * a + b + (b_head Wa) Wb, since the head bias is part of z.
    out.set(
      'lm_head.bias',
      tf.tidy(() => {
        let b = tf.add(tf.mul(headBias, adapter.scale), adapter.bias);
        if (adapter.wa && adapter.wb) b = tf.add(b, tf.reshape(tf.matMul(tf.matMul(tf.reshape(headBias, [1, v!]), adapter.wa), adapter.wb), [v!]));
        return b;
      }),
    );
    changed.push('lm_head.bias');
  }
  return { ok: true, tensors: out, changed, method: 'lm_head.weight <- diag(scale) W + Wb^T (Wa^T W)' };
}
