import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from '../config';
import { decodeAttention } from './decode-kernels';
import type { KVCache } from './kv-cache';
import { rmsNorm } from './layers';
import { applyRope } from './rope';

export type WeightLookup = (name: string) => tf.Tensor;

/**
 * A linear projection by module name, e.g. "model.layers.0.self_attn.q_proj": x [N, in] ->
 * [N, out] with `${module}.weight` (stored [in, out]) and, when hasBias, `${module}.bias`; CausalLM
 * adds an attached LoRA adapter's update here.
 */
export type Projection = (x: tf.Tensor2D, module: string, hasBias: boolean) => tf.Tensor2D;

/**
 * Scaled dot-product attention with grouped-query heads (GQA, arXiv 2305.13245) without repeating
 * k/v: query head h uses kv head floor(h / G), G = H / Hkv (Hugging Face repeat_kv order), so the
 * G query heads of one kv head are contiguous and fold into the row axis of one batched matmul.
 *
 * q [B, H, T, hd] (already scaled by 1/sqrt(hd)), k [B, Hkv, Tk, hd], v [B, Hkv, Tk, hd],
 * bias [B, 1, T, Tk] additive -> [B, H, T, hd]. Keys stay untransposed (q k^T is a transposed
 * matMul): the cache appends whole [Tk, hd] blocks, and decoding products run as strided JS loops
 * in the wasm BatchMatMul fix.
 */
export function groupedAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, bias: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, t, hd] = q.shape;
    const hkv = k.shape[1];
    const tk = k.shape[2];
    const g = h / hkv;
    const scores = tf.matMul(tf.reshape(q, [b * hkv, g * t, hd]), tf.reshape(k, [b * hkv, tk, hd]), false, true); // [B*Hkv, G*T, Tk]
    const probs = tf.softmax(tf.add(tf.reshape(scores, [b, h, t, tk]), bias)); // [B, H, T, Tk]
    const out = tf.matMul(tf.reshape(probs, [b * hkv, g * t, tk]), tf.reshape(v, [b * hkv, tk, hd])); // [B*Hkv, G*T, hd]
    return tf.reshape(out, [b, h, t, hd]);
  });
}

export interface AttentionContext {
  config: ModelConfig;
  weight: WeightLookup;
  project: Projection;
  batch: number;
  seqLen: number;
  bias: tf.Tensor4D; // [B, 1, T, Tk]
  /** With a sliding window that binds: the windowed bias [B, 1, T, Tk] for layers >= config.maxWindowLayers. */
  windowBias?: tf.Tensor4D;
  rope: { cos: tf.Tensor3D; sin: tf.Tensor3D } | null; // each [N, 1, hd]
  cache?: KVCache;
  /** Route 1-token steps on a fused cache through the fused decoding kernels (inference only). */
  fused?: boolean;
}

/** q [N, H*hd], k and v [N, Hkv*hd] from the normalized hidden state x [N, D]. */
function projectQkv(x: tf.Tensor2D, layer: number, ctx: AttentionContext): [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D] {
  const { config: c, project } = ctx;
  if (c.family === 'gpt2') {
    const qkv = project(x, `transformer.h.${layer}.attn.c_attn`, true); // [N, 3D]
    const d = c.hiddenSize;
    return tf.split(qkv, [d, d, d], 1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
  }
  const p = `model.layers.${layer}.self_attn`;
  return [project(x, `${p}.q_proj`, c.attentionBias), project(x, `${p}.k_proj`, c.attentionBias), project(x, `${p}.v_proj`, c.attentionBias)];
}

/** Qwen3: RMSNorm over each head's hd features (weights [hd]) of x [N, heads, hd], before RoPE. */
function headNorm(x: tf.Tensor3D, gamma: tf.Tensor, eps: number): tf.Tensor3D {
  const [n, h, hd] = x.shape;
  return tf.reshape(rmsNorm(tf.reshape(x, [n * h, hd]), gamma as tf.Tensor1D, eps), [n, h, hd]);
}

/** Self-attention sublayer: x [N, D] -> [N, D] (before the residual add). Appends to ctx.cache. */
export function selfAttention(x: tf.Tensor2D, layer: number, ctx: AttentionContext): tf.Tensor2D {
  const { config: c, batch: b, seqLen: t } = ctx;
  const n = b * t;
  const h = c.numHeads;
  const hkv = c.numKvHeads;
  const hd = c.headDim;
  if (ctx.fused && ctx.cache && t === 1) return decodeStep(x, layer, ctx, ctx.cache);
  const [q2, k2, v2] = projectQkv(x, layer, ctx);
  let q3 = tf.reshape(q2, [n, h, hd]) as tf.Tensor3D;
  let k3 = tf.reshape(k2, [n, hkv, hd]) as tf.Tensor3D;
  if (c.qkNorm) {
    const p = `model.layers.${layer}.self_attn`;
    q3 = headNorm(q3, ctx.weight(`${p}.q_norm.weight`), c.normEps);
    k3 = headNorm(k3, ctx.weight(`${p}.k_norm.weight`), c.normEps);
  }
  q3 = tf.mul(q3, 1 / Math.sqrt(hd));
  if (ctx.rope) {
    q3 = applyRope(q3, ctx.rope.cos, ctx.rope.sin);
    k3 = applyRope(k3, ctx.rope.cos, ctx.rope.sin);
  }
  const q = tf.transpose(tf.reshape(q3, [b, t, h, hd]), [0, 2, 1, 3]) as tf.Tensor4D; // [B, H, T, hd]
  let k = tf.transpose(tf.reshape(k3, [b, t, hkv, hd]), [0, 2, 1, 3]) as tf.Tensor4D; // [B, Hkv, T, hd]
  let v = tf.transpose(tf.reshape(v2, [b, t, hkv, hd]), [0, 2, 1, 3]) as tf.Tensor4D; // [B, Hkv, T, hd]
  if (ctx.cache) ({ k, v } = ctx.cache.append(layer, k, v)); // Tk = past + T
  const bias = ctx.windowBias && layer >= c.maxWindowLayers ? ctx.windowBias : ctx.bias;
  const att = groupedAttention(q, k, v, bias); // [B, H, T, hd]
  const merged = tf.reshape(tf.transpose(att, [0, 2, 1, 3]), [n, h * hd]) as tf.Tensor2D; // [N, H*hd]
  return outProjection(merged, layer, ctx);
}

/**
 * Decoding step (T = 1) on a fused cache: scale, RoPE, in-place cache write and attention in one
 * dispatch on the projections as they come ([B, features]; GPT-2's packed c_attn output unsplit).
 */
function decodeStep(x: tf.Tensor2D, layer: number, ctx: AttentionContext, cache: KVCache): tf.Tensor2D {
  const { config: c, batch: b } = ctx;
  const [h, hkv, hd] = [c.numHeads, c.numKvHeads, c.headDim];
  const buf = cache.buffers(layer, b, hkv, hd);
  const bias = ctx.windowBias && layer >= c.maxWindowLayers ? ctx.windowBias : ctx.bias;
  const attrs = { heads: h, kvHeads: hkv, headDim: hd, pos: cache.length - 1, scale: 1 / Math.sqrt(hd) };
  const common = { kCache: buf.k, vCache: buf.v, bias, rope: ctx.rope };
  if (c.family === 'gpt2') {
    const qkv = ctx.project(x, `transformer.h.${layer}.attn.c_attn`, true); // [B, 3D]
    return outProjection(decodeAttention({ qkv, ...common }, attrs), layer, ctx);
  }
  const [q2, k2, v] = projectQkv(x, layer, ctx);
  let q: tf.Tensor = q2;
  let k: tf.Tensor = k2;
  if (c.qkNorm) {
    const p = `model.layers.${layer}.self_attn`;
    q = headNorm(tf.reshape(q2, [b, h, hd]) as tf.Tensor3D, ctx.weight(`${p}.q_norm.weight`), c.normEps);
    k = headNorm(tf.reshape(k2, [b, hkv, hd]) as tf.Tensor3D, ctx.weight(`${p}.k_norm.weight`), c.normEps);
  }
  return outProjection(decodeAttention({ q, k, v, ...common }, attrs), layer, ctx);
}

/** Output projection of the merged heads [N, H*hd] -> [N, D]. */
function outProjection(merged: tf.Tensor2D, layer: number, ctx: AttentionContext): tf.Tensor2D {
  const c = ctx.config;
  if (c.family === 'gpt2') return ctx.project(merged, `transformer.h.${layer}.attn.c_proj`, true);
  return ctx.project(merged, `model.layers.${layer}.self_attn.o_proj`, c.attentionOutBias);
}
