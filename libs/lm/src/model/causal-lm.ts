/**
 * CausalLM: one decoder for GPT-2 and Llama/Qwen2 (see docs/ARCHITECTURE.md).
 *
 * Shapes (B batch, T new positions, Tk = cached + new positions, D hidden, V vocab,
 * H query heads, Hkv kv heads, hd head dim, N = B*T):
 *   inputIds       [B, T] int32          left-padded prompts + right-padded responses
 *   attentionMask  [B, T] (or [B, Tk] with a cache)   1 = real token, 0 = pad
 *   positions      [B, T]  cumsum(mask) - 1, clamped at 0 (Hugging Face convention)
 *   hidden         [N, D]  kept 2-D so every matmul is an untransposed [N, in] @ [in, out]
 *   q              [B, H, T, hd]; cached keys and values [B, Hkv, Tk, hd]
 *   scores         [B, H, T, Tk] + causal/padding bias [B, 1, T, Tk]
 *   logits         [B, T, V]  (after the logits adapter, if one is set)
 *
 * Weights live in `weights`, keyed by Hugging Face names, but every Linear weight is stored
 * [in, out]: Llama/Qwen2 nn.Linear weights (and an untied lm_head) are transposed on load/save,
 * GPT-2 Conv1D weights are already [in, out]. A tied lm_head multiplies by the embedding [V, D]
 * transposed. Alignment: logits at position t predict token t+1.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ModelConfigSchema, type ModelConfig } from '../config';
import { selfAttention, type AttentionContext } from './attention';
import type { KVCache } from './kv-cache';
import { layerNorm, rmsNorm } from './layers';
import type { LogitsAdapter } from './logits-adapter';
import { attentionBias, positionIds } from './masks';
import { mlp } from './mlp';
import { ropeTables } from './rope';
import { hfToInternal, initTensor, internalToHf, weightSpecs } from './weights';

export interface ForwardOptions {
  /** [B, T] 1 = real token, 0 = pad (int32 or float32). With a cache: [B, T] new columns or the full [B, Tk]. */
  attentionMask?: tf.Tensor2D;
  /** Incremental decoding: reads and extends the cache. */
  cache?: KVCache;
  /** Compute logits only for the last position (returns [B, 1, V]); used by generation. */
  lastPositionOnly?: boolean;
}

export class CausalLM {
  private adapter: LogitsAdapter | null = null;

  private constructor(
    readonly config: ModelConfig,
    /** Parameters keyed by Hugging Face names; Linear weights stored [in, out] (see file header). */
    readonly weights: Map<string, tf.Variable>,
  ) {}

  /** Deterministic GPT-2-style init (see initTensor): same seed, same weights on every backend. */
  static init(config: ModelConfig, seed: number): CausalLM {
    const c = ModelConfigSchema.parse(config);
    const weights = new Map<string, tf.Variable>();
    for (const spec of weightSpecs(c)) {
      const t = initTensor(spec, c.numLayers, seed);
      weights.set(spec.name, tf.variable(t, true));
      t.dispose();
    }
    return new CausalLM(c, weights);
  }

  /**
   * Builds a model from tensors in Hugging Face layout (e.g. read from safetensors). Checks that
   * every expected name is present with its expected shape and nothing else is; the error names the
   * tensor and the expected shape. Transposes the nn.Linear weights of Llama/Qwen2
   * (q/k/v/o_proj, gate/up/down_proj, untied lm_head) from [out, in] to [in, out]; GPT-2 Conv1D
   * weights are used as they are. Casts to float32. Does not dispose the input tensors.
   */
  static fromHfTensors(config: ModelConfig, tensors: Map<string, tf.Tensor>): CausalLM {
    const c = ModelConfigSchema.parse(config);
    const internal = hfToInternal(c, tensors);
    const weights = new Map<string, tf.Variable>();
    for (const [name, t] of internal) {
      weights.set(name, tf.variable(t, true));
      t.dispose();
    }
    return new CausalLM(c, weights);
  }

  /** Weights in Hugging Face layout (new tensors; the caller disposes them). Tied lm_head is omitted. */
  toHfTensors(): Map<string, tf.Tensor> {
    return internalToHf(this.config, this.weights);
  }

  setLogitsAdapter(adapter: LogitsAdapter | null): void {
    this.adapter = adapter;
  }

  getLogitsAdapter(): LogitsAdapter | null {
    return this.adapter;
  }

  /** Model weights, plus the logits adapter's variables unless includeAdapter is false. */
  trainableVariables(opts: { includeAdapter?: boolean } = {}): tf.Variable[] {
    const vars = [...this.weights.values()];
    if (this.adapter && opts.includeAdapter !== false) vars.push(...this.adapter.variables());
    return vars;
  }

  numParameters(): number {
    let n = 0;
    for (const w of this.weights.values()) n += w.size;
    return n;
  }

  /** Deep copy of the weights (for frozen reference models). The logits adapter, if any, is shared. */
  clone(): CausalLM {
    const weights = new Map<string, tf.Variable>();
    for (const [name, w] of this.weights) weights.set(name, tf.variable(w, w.trainable));
    const copy = new CausalLM(this.config, weights);
    copy.adapter = this.adapter;
    return copy;
  }

  dispose(): void {
    for (const w of this.weights.values()) w.dispose();
    this.weights.clear();
  }

  private weight = (name: string): tf.Tensor => {
    const w = this.weights.get(name);
    if (!w) throw new Error(`CausalLM: no weight named ${name} (model disposed or config mismatch)`);
    return w;
  };

  /** Logits [B, T, V] (or [B, 1, V] with lastPositionOnly). */
  forward(inputIds: tf.Tensor2D, opts: ForwardOptions = {}): tf.Tensor3D {
    const c = this.config;
    const [b, t] = inputIds.shape;
    const cache = opts.cache;
    const past = cache?.length ?? 0;
    return tf.tidy(() => {
      const mask = this.fullMask(b, t, past, opts); // [B, Tk]
      if (cache) cache.setMask(mask);
      const n = b * t;
      const ids = tf.reshape(tf.cast(inputIds, 'int32'), [n]);
      const pos = tf.reshape(positionIds(mask, t), [n]); // [N]
      let x = tf.gather(this.weight(c.family === 'gpt2' ? 'transformer.wte.weight' : 'model.embed_tokens.weight'), ids) as tf.Tensor2D; // [N, D]
      if (c.family === 'gpt2') x = tf.add(x, tf.gather(this.weight('transformer.wpe.weight'), pos));
      const ctx: AttentionContext = {
        config: c,
        weight: this.weight,
        batch: b,
        seqLen: t,
        bias: attentionBias(mask, t),
        rope: c.family === 'llama' ? ropeTables(pos as tf.Tensor1D, c.headDim, c.ropeTheta) : null,
        cache,
      };
      for (let i = 0; i < c.numLayers; i++) {
        x = tf.add(x, selfAttention(this.norm(x, i, 1), i, ctx));
        x = tf.add(x, mlp(this.norm(x, i, 2), i, c, this.weight));
      }
      x = this.norm(x, -1, 0);
      let rows = t;
      if (opts.lastPositionOnly && t > 1) {
        x = tf.reshape(tf.slice(tf.reshape(x, [b, t, c.hiddenSize]), [0, t - 1, 0], [-1, 1, -1]), [b, c.hiddenSize]);
        rows = 1;
      }
      const logits2 = c.tieWordEmbeddings
        ? tf.matMul(x, this.weight(c.family === 'gpt2' ? 'transformer.wte.weight' : 'model.embed_tokens.weight') as tf.Tensor2D, false, true)
        : tf.matMul(x, this.weight('lm_head.weight') as tf.Tensor2D); // [B*rows, V]
      const logits = tf.reshape(logits2, [b, rows, c.vocabSize]) as tf.Tensor3D;
      return this.adapter ? this.adapter.apply(logits) : logits;
    });
  }

  /** Attention mask over all Tk = past + T positions, float32 [B, Tk]. */
  private fullMask(b: number, t: number, past: number, opts: ForwardOptions): tf.Tensor2D {
    const given = opts.attentionMask;
    const newCols = (): tf.Tensor2D => (given ? (tf.cast(given, 'float32') as tf.Tensor2D) : tf.ones([b, t]));
    if (given && given.shape[0] !== b) {
      throw new Error(`CausalLM.forward: attentionMask has batch ${given.shape[0]}, inputIds has ${b}; pass a [B, T] mask`);
    }
    const width = given?.shape[1] ?? t;
    if (past === 0 || !opts.cache?.mask) {
      if (width !== t) throw new Error(`CausalLM.forward: attentionMask is [${b}, ${width}], expected [${b}, ${t}] like inputIds`);
      return newCols();
    }
    if (width === past + t) return newCols();
    if (width !== t) {
      throw new Error(`CausalLM.forward: with a cache of ${past} positions attentionMask must be [${b}, ${t}] or [${b}, ${past + t}], got [${b}, ${width}]`);
    }
    return tf.concat([opts.cache.mask, newCols()], 1);
  }

  /** sub 1 = before attention, 2 = before MLP; layer -1 = final norm. */
  private norm(x: tf.Tensor2D, layer: number, sub: 0 | 1 | 2): tf.Tensor2D {
    const c = this.config;
    if (c.family === 'gpt2') {
      const p = layer < 0 ? 'transformer.ln_f' : `transformer.h.${layer}.ln_${sub}`;
      return layerNorm(x, this.weight(`${p}.weight`) as tf.Tensor1D, this.weight(`${p}.bias`) as tf.Tensor1D, c.normEps);
    }
    const p = layer < 0 ? 'model.norm' : `model.layers.${layer}.${sub === 1 ? 'input_layernorm' : 'post_attention_layernorm'}`;
    return rmsNorm(x, this.weight(`${p}.weight`) as tf.Tensor1D, c.normEps);
  }
}
