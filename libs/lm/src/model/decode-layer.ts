import type * as tf from '@tensorflow/tfjs-core';
import type { AttentionContext } from './attention';
import { fusedDecodeLayer, type DecodeLayerWeights } from './decode-kernels';
import type { KVCache } from './kv-cache';

/** The weights of decoder layer `layer` by role, from their Hugging Face names (attention.ts, mlp.ts, CausalLM.norm). */
function layerWeights(layer: number, ctx: AttentionContext): DecodeLayerWeights {
  const c = ctx.config;
  const w = ctx.weight;
  if (c.family === 'gpt2') {
    const p = `transformer.h.${layer}`;
    return {
      norm1G: w(`${p}.ln_1.weight`),
      norm1B: w(`${p}.ln_1.bias`),
      qkvW: w(`${p}.attn.c_attn.weight`),
      qkvB: w(`${p}.attn.c_attn.bias`),
      oW: w(`${p}.attn.c_proj.weight`),
      oB: w(`${p}.attn.c_proj.bias`),
      norm2G: w(`${p}.ln_2.weight`),
      norm2B: w(`${p}.ln_2.bias`),
      fcW: w(`${p}.mlp.c_fc.weight`),
      fcB: w(`${p}.mlp.c_fc.bias`),
      downW: w(`${p}.mlp.c_proj.weight`),
      downB: w(`${p}.mlp.c_proj.bias`),
    };
  }
  const p = `model.layers.${layer}`;
  const a = `${p}.self_attn`;
  const m = `${p}.mlp`;
  const bias = (on: boolean, name: string): tf.Tensor | undefined => (on ? w(`${name}.bias`) : undefined);
  return {
    norm1G: w(`${p}.input_layernorm.weight`),
    qW: w(`${a}.q_proj.weight`),
    qB: bias(c.attentionBias, `${a}.q_proj`),
    kW: w(`${a}.k_proj.weight`),
    kB: bias(c.attentionBias, `${a}.k_proj`),
    vW: w(`${a}.v_proj.weight`),
    vB: bias(c.attentionBias, `${a}.v_proj`),
    qNormG: c.qkNorm ? w(`${a}.q_norm.weight`) : undefined,
    kNormG: c.qkNorm ? w(`${a}.k_norm.weight`) : undefined,
    oW: w(`${a}.o_proj.weight`),
    oB: bias(c.attentionOutBias, `${a}.o_proj`),
    norm2G: w(`${p}.post_attention_layernorm.weight`),
    gateW: w(`${m}.gate_proj.weight`),
    gateB: bias(c.mlpBias, `${m}.gate_proj`),
    upW: w(`${m}.up_proj.weight`),
    upB: bias(c.mlpBias, `${m}.up_proj`),
    downW: w(`${m}.down_proj.weight`),
    downB: bias(c.mlpBias, `${m}.down_proj`),
  };
}

/**
 * A whole decoder layer of a decoding step (T = 1, fused cache, no LoRA): x [B, D] -> [B, D] in one
 * dispatch, the same computation as x + selfAttention(norm1(x)), then + mlp(norm2(.)).
 */
export function decodeLayer(x: tf.Tensor2D, layer: number, ctx: AttentionContext, cache: KVCache): tf.Tensor2D {
  const c = ctx.config;
  const buf = cache.buffers(layer, ctx.batch, c.numKvHeads, c.headDim);
  const bias = ctx.windowBias && layer >= c.maxWindowLayers ? ctx.windowBias : ctx.bias;
  return fusedDecodeLayer(
    x,
    layerWeights(layer, ctx),
    { kCache: buf.k, vCache: buf.v, bias, rope: ctx.rope },
    { heads: c.numHeads, kvHeads: c.numKvHeads, headDim: c.headDim, pos: cache.length - 1, scale: 1 / Math.sqrt(c.headDim), eps: c.normEps, activation: c.activation },
  );
}
