import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from '../config';
import type { WeightLookup } from './attention';
import { geluNew, linear, silu } from './layers';

/** Feed-forward sublayer x [N, D] -> [N, D]: GPT-2 GELU MLP or Llama SwiGLU (arXiv 2002.05202). */
export function mlp(x: tf.Tensor2D, layer: number, config: ModelConfig, weight: WeightLookup): tf.Tensor2D {
  const w2 = (n: string): tf.Tensor2D => weight(n) as tf.Tensor2D;
  const w1 = (n: string): tf.Tensor1D => weight(n) as tf.Tensor1D;
  if (config.family === 'gpt2') {
    const p = `transformer.h.${layer}.mlp`;
    const hidden = geluNew(linear(x, w2(`${p}.c_fc.weight`), w1(`${p}.c_fc.bias`))); // [N, I]
    return linear(hidden, w2(`${p}.c_proj.weight`), w1(`${p}.c_proj.bias`));
  }
  const p = `model.layers.${layer}.mlp`;
  const gate = silu(linear(x, w2(`${p}.gate_proj.weight`))); // [N, I]
  const up = linear(x, w2(`${p}.up_proj.weight`)); // [N, I]
  return linear(tf.mul(gate, up), w2(`${p}.down_proj.weight`));
}
