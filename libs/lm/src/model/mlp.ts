import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from '../config';
import type { Projection } from './attention';
import { fusedActivation, fusedSwiGlu } from './decode-kernels';
import { gelu, geluNew, silu } from './layers';

/**
 * Feed-forward sublayer x [N, D] -> [N, D]: GPT-2 GELU MLP or Llama SwiGLU (arXiv 2002.05202).
 * `fused` (inference with a fused KV cache): the activation in one dispatch (decode-kernels.ts).
 */
export function mlp(x: tf.Tensor2D, layer: number, config: ModelConfig, project: Projection, fused = false): tf.Tensor2D {
  if (config.family === 'gpt2') {
    const p = `transformer.h.${layer}.mlp`;
    const pre = project(x, `${p}.c_fc`, true); // [N, I]
    const fn = config.activation === 'gelu' ? 'gelu' : 'gelu_new';
    const hidden = fused ? fusedActivation(pre, fn) : fn === 'gelu' ? gelu(pre) : geluNew(pre);
    return project(hidden, `${p}.c_proj`, true);
  }
  const p = `model.layers.${layer}.mlp`;
  const b = config.mlpBias;
  const gate = project(x, `${p}.gate_proj`, b); // [N, I]
  const up = project(x, `${p}.up_proj`, b); // [N, I]
  return project(fused ? fusedSwiGlu(gate, up) : tf.mul(silu(gate), up), `${p}.down_proj`, b);
}
