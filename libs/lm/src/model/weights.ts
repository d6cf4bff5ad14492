import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from '../config';
import { createRng, deriveSeed, hashString } from '../generation/rng';

/** How one parameter is stored, converted and initialized. */
export interface WeightSpec {
  /** Hugging Face name, e.g. "model.layers.0.self_attn.q_proj.weight". */
  name: string;
  /** Internal shape. Linear weights are [in, out]. */
  shape: number[];
  /** True when Hugging Face stores it [out, in] (nn.Linear): transposed on load and save. */
  transposed: boolean;
  init: 'normal' | 'residual' | 'zeros' | 'ones';
}

/** Shape in the Hugging Face checkpoint. */
export function hfShape(spec: WeightSpec): number[] {
  return spec.transposed ? [...spec.shape].reverse() : spec.shape;
}

/** Every parameter of a config, in a fixed order. */
export function weightSpecs(c: ModelConfig): WeightSpec[] {
  const specs: WeightSpec[] = [];
  const add = (name: string, shape: number[], init: WeightSpec['init'], transposed = false): void => {
    specs.push({ name, shape, transposed, init });
  };
  const d = c.hiddenSize;
  if (c.family === 'gpt2') {
    // GPT-2 uses Conv1D, whose weights are already [in, out]: nothing is transposed.
    add('transformer.wte.weight', [c.vocabSize, d], 'normal');
    add('transformer.wpe.weight', [c.maxPositions, d], 'normal');
    for (let i = 0; i < c.numLayers; i++) {
      const p = `transformer.h.${i}`;
      add(`${p}.ln_1.weight`, [d], 'ones');
      add(`${p}.ln_1.bias`, [d], 'zeros');
      add(`${p}.attn.c_attn.weight`, [d, 3 * d], 'normal');
      add(`${p}.attn.c_attn.bias`, [3 * d], 'zeros');
      add(`${p}.attn.c_proj.weight`, [d, d], 'residual');
      add(`${p}.attn.c_proj.bias`, [d], 'zeros');
      add(`${p}.ln_2.weight`, [d], 'ones');
      add(`${p}.ln_2.bias`, [d], 'zeros');
      add(`${p}.mlp.c_fc.weight`, [d, c.intermediateSize], 'normal');
      add(`${p}.mlp.c_fc.bias`, [c.intermediateSize], 'zeros');
      add(`${p}.mlp.c_proj.weight`, [c.intermediateSize, d], 'residual');
      add(`${p}.mlp.c_proj.bias`, [d], 'zeros');
    }
    add('transformer.ln_f.weight', [d], 'ones');
    add('transformer.ln_f.bias', [d], 'zeros');
    // An untied GPT-2 head is an nn.Linear (no bias): [V, D] in the checkpoint.
    if (!c.tieWordEmbeddings) add('lm_head.weight', [d, c.vocabSize], 'normal', true);
    return specs;
  }
  // Llama / Qwen2 / Qwen3: nn.Linear stores [out, in]; every *_proj and lm_head is transposed to [in, out].
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  add('model.embed_tokens.weight', [c.vocabSize, d], 'normal');
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}`;
    add(`${p}.input_layernorm.weight`, [d], 'ones');
    add(`${p}.self_attn.q_proj.weight`, [d, q], 'normal', true);
    add(`${p}.self_attn.k_proj.weight`, [d, kv], 'normal', true);
    add(`${p}.self_attn.v_proj.weight`, [d, kv], 'normal', true);
    if (c.attentionBias) {
      add(`${p}.self_attn.q_proj.bias`, [q], 'zeros');
      add(`${p}.self_attn.k_proj.bias`, [kv], 'zeros');
      add(`${p}.self_attn.v_proj.bias`, [kv], 'zeros');
    }
    if (c.qkNorm) {
      add(`${p}.self_attn.q_norm.weight`, [c.headDim], 'ones');
      add(`${p}.self_attn.k_norm.weight`, [c.headDim], 'ones');
    }
    add(`${p}.self_attn.o_proj.weight`, [q, d], 'residual', true);
    if (c.attentionOutBias) add(`${p}.self_attn.o_proj.bias`, [d], 'zeros');
    add(`${p}.post_attention_layernorm.weight`, [d], 'ones');
    add(`${p}.mlp.gate_proj.weight`, [d, c.intermediateSize], 'normal', true);
    add(`${p}.mlp.up_proj.weight`, [d, c.intermediateSize], 'normal', true);
    add(`${p}.mlp.down_proj.weight`, [c.intermediateSize, d], 'residual', true);
    if (c.mlpBias) {
      add(`${p}.mlp.gate_proj.bias`, [c.intermediateSize], 'zeros');
      add(`${p}.mlp.up_proj.bias`, [c.intermediateSize], 'zeros');
      add(`${p}.mlp.down_proj.bias`, [d], 'zeros');
    }
  }
  add('model.norm.weight', [d], 'ones');
  if (!c.tieWordEmbeddings) add('lm_head.weight', [d, c.vocabSize], 'normal', true);
  return specs;
}

/**
 * Deterministic GPT-2-style init: N(0, 0.02) for embeddings and linear weights, residual output
 * projections (attn c_proj / o_proj, mlp c_proj / down_proj) N(0, 0.02 / sqrt(2 * numLayers))
 * (GPT-2 paper; nanoGPT), biases 0, norm gains 1. Each tensor has its own stream seeded by
 * (seed, name), so values do not depend on the backend or on other tensors.
 */
export function initTensor(spec: WeightSpec, numLayers: number, seed: number): tf.Tensor {
  const size = spec.shape.reduce((a, b) => a * b, 1);
  if (spec.init === 'zeros') return tf.zeros(spec.shape);
  if (spec.init === 'ones') return tf.ones(spec.shape);
  const std = spec.init === 'residual' ? 0.02 / Math.sqrt(2 * numLayers) : 0.02;
  const rng = createRng(deriveSeed(seed, hashString(spec.name)));
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = rng.nextNormal() * std;
  return tf.tensor(values, spec.shape, 'float32');
}

/**
 * The documented ignore list: buffers some Hugging Face checkpoints carry that are not parameters
 * and that emrl recomputes (GPT-2's causal-mask buffers attn.bias / attn.masked_bias, the rotary
 * inv_freq buffer of older Llama/Qwen saves). Every other unused tensor is an error.
 */
export const IGNORED_CHECKPOINT_TENSORS: readonly RegExp[] = [/\.attn\.bias$/, /\.attn\.masked_bias$/, /rotary_emb\.inv_freq$/];

/** Name of the input embedding, which a tied lm_head reuses. */
export function embeddingName(c: ModelConfig): string {
  return c.family === 'gpt2' ? 'transformer.wte.weight' : 'model.embed_tokens.weight';
}

/**
 * A checkpoint of a tied model may still carry lm_head.weight (transformers ties it on load). It is
 * accepted only when it equals the embedding; otherwise the config is wrong and dropping it would
 * silently change the logits.
 */
function checkTiedHead(config: ModelConfig, head: tf.Tensor, embed: tf.Tensor | undefined): void {
  const same =
    embed !== undefined &&
    head.shape.length === embed.shape.length &&
    head.shape.every((v, i) => v === embed.shape[i]) &&
    tf.tidy(() => tf.max(tf.abs(tf.sub(tf.cast(head, 'float32'), tf.cast(embed, 'float32')))).dataSync()[0]! === 0);
  if (!same) {
    throw new Error(
      `fromHfTensors: the checkpoint has lm_head.weight different from ${embeddingName(config)} but config.json ties them ` +
        '(tie_word_embeddings true or absent for gpt2); set "tie_word_embeddings": false in config.json so the untied head is used',
    );
  }
}

/**
 * Validates a Hugging Face tensor map against the config and returns internal-layout float32
 * tensors (new tensors; the input map is not disposed). Linear weights of Llama/Qwen2 ([out, in])
 * are transposed to [in, out]; GPT-2 Conv1D weights are taken as they are. GPT-2 names without
 * the "transformer." prefix (as saved from GPT2Model) are accepted; a tied lm_head.weight must equal
 * the embedding. Tensors in IGNORED_CHECKPOINT_TENSORS are skipped; any other unused one is an error.
 */
export interface HfToInternalOptions {
  /**
   * Dispose each source tensor as soon as its internal weight exists (loading: the heap then holds
   * one model copy plus one weight, not two copies; a Qwen2.5-0.5B load peaks at ~2 GB, not ~4).
   * The caller's map then holds disposed tensors.
   */
  consume?: boolean;
}

export function hfToInternal(config: ModelConfig, tensors: Map<string, tf.Tensor>, opts: HfToInternalOptions = {}): Map<string, tf.Tensor> {
  const specs = weightSpecs(config);
  const byName = new Map(specs.map((s) => [s.name, s]));
  const found = new Map<string, tf.Tensor>();
  const unexpected: string[] = [];
  for (const [rawName, t] of tensors) {
    let name = rawName;
    if (config.family === 'gpt2' && !name.startsWith('transformer.') && byName.has(`transformer.${name}`)) name = `transformer.${name}`;
    if (IGNORED_CHECKPOINT_TENSORS.some((re) => re.test(name))) continue;
    if (name === 'lm_head.weight' && config.tieWordEmbeddings) {
      checkTiedHead(config, t, tensors.get(embeddingName(config)) ?? tensors.get(embeddingName(config).replace(/^transformer\./, '')));
      continue;
    }
    if (!byName.has(name)) unexpected.push(rawName);
    else found.set(name, t);
  }
  const fmt = (s: number[]): string => `[${s.join(', ')}]`;
  const missing = specs.filter((s) => !found.has(s.name));
  if (missing.length > 0) {
    const list = missing.slice(0, 5).map((s) => `${s.name} ${fmt(hfShape(s))}`);
    throw new Error(
      `fromHfTensors: missing tensor${missing.length > 1 ? 's' : ''} ${list.join(', ')}` +
        `${missing.length > 5 ? ` and ${missing.length - 5} more` : ''} for ${config.modelType} ` +
        `(${config.numLayers} layers, tieWordEmbeddings ${config.tieWordEmbeddings}); check that config.json matches the checkpoint`,
    );
  }
  if (unexpected.length > 0) {
    throw new Error(
      `fromHfTensors: unexpected tensor${unexpected.length > 1 ? 's' : ''} ${unexpected.slice(0, 5).join(', ')}` +
        ` for ${config.modelType} with ${config.numLayers} layers (attentionBias ${config.attentionBias}, ` +
        `tieWordEmbeddings ${config.tieWordEmbeddings}); check that config.json matches the checkpoint`,
    );
  }
  for (const s of specs) {
    const t = found.get(s.name) as tf.Tensor;
    const want = hfShape(s);
    if (t.shape.length !== want.length || t.shape.some((v, i) => v !== want[i])) {
      throw new Error(`fromHfTensors: tensor ${s.name} has shape ${fmt(t.shape)}, expected ${fmt(want)} (Hugging Face layout) for this config.json`);
    }
    if (t.dtype !== 'float32') {
      throw new Error(`fromHfTensors: tensor ${s.name} has dtype ${t.dtype}; model weights must be floating point (F32, F16 or BF16 in the safetensors file)`);
    }
  }
  const out = new Map<string, tf.Tensor>();
  for (const s of specs) {
    const t = found.get(s.name) as tf.Tensor;
    out.set(
      s.name,
      tf.tidy(() => {
        const f = t.dtype === 'float32' ? t : tf.cast(t, 'float32');
        return s.transposed ? tf.transpose(f) : tf.clone(f);
      }),
    );
    if (opts.consume) t.dispose();
  }
  return out;
}

/** Internal weights -> Hugging Face layout (new tensors the caller disposes). */
export function internalToHf(config: ModelConfig, weights: Map<string, tf.Tensor>): Map<string, tf.Tensor> {
  return new Map(internalToHfEach(config, weights));
}

/**
 * Internal weights -> Hugging Face layout one weight at a time, in weight order: the caller disposes
 * each tensor before taking the next, so saving never holds a second copy of the model (the
 * transposed Linear weights of Qwen2.5-0.5B are 1.5 GB).
 */
export function* internalToHfEach(config: ModelConfig, weights: Map<string, tf.Tensor>): Generator<[string, tf.Tensor]> {
  for (const s of weightSpecs(config)) {
    const w = weights.get(s.name);
    if (!w) throw new Error(`toHfTensors: model has no weight ${s.name}`);
    yield [s.name, s.transposed ? tf.transpose(w) : tf.clone(w)];
  }
}
