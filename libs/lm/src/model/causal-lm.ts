/**
 * CausalLM: one decoder for GPT-2 and Llama/Qwen2/Qwen3 (see docs/ARCHITECTURE.md).
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
import type { SafetensorsWriteDtype } from '../checkpoint/safetensors';
import { ModelConfigSchema, type ModelConfig } from '../config';
import type { GenerationConfig } from '../generation/generation-config';
import { LoraAdapter } from '../lora/lora-adapter';
import { isLargeWeight } from '../wasm-kernels/batch-mat-mul';
import type { LoraConfig, LoraConfigInput } from '../lora/lora-config';
import type { DropoutRows, TrainingMode } from '../lora/lora-dropout';
import { selfAttention, type AttentionContext, type Projection } from './attention';
import { fusedDecodingAvailable, fusedEmbedding, fusedLinear, fusedNorm } from './decode-kernels';
import { decodeLayer } from './decode-layer';
import type { KVCache } from './kv-cache';
import { layerNorm, linear, rmsNorm } from './layers';
import type { LogitsAdapter } from './logits-adapter';
import { attentionBias, attentionBiasHost, positionIds, positionIdsHost } from './masks';
import { mlp } from './mlp';
import { ropeTables, ropeTablesFromPositions } from './rope';
import { ropeFrequencies, type RopeFrequencies } from './rope-scaling';
import { embeddingName, hfToInternal, initTensor, internalToHf, internalToHfEach, weightSpecs, type HfToInternalOptions } from './weights';

export interface ForwardOptions {
  /** [B, T] 1 = real token, 0 = pad (int32 or float32). With a cache: [B, T] new columns or the full [B, Tk]. */
  attentionMask?: tf.Tensor2D;
  /** Incremental decoding: reads and extends the cache. */
  cache?: KVCache;
  /** Compute logits only for the last position (returns [B, 1, V]); used by generation. */
  lastPositionOnly?: boolean;
  /**
   * Run the base model without the attached LoRA update (PEFT's disable_adapter()): the frozen
   * reference of KL-regularized training without a second copy of the weights.
   */
  disableLora?: boolean;
  /**
   * Run with this adapter in place of the attached one (e.g. a frozen snapshot of the adapter as a
   * KL reference, without a second copy of the base weights). Ignored when disableLora is set.
   */
  lora?: LoraAdapter;
  /**
   * Train mode (PEFT's model.train()): the LoRA adapter applies its dropout with masks drawn from
   * this seed and the absolute rows / position ids. Absent = eval mode (generation, scoring,
   * reference log-probs). Without an adapter, or with dropout 0, it changes nothing.
   */
  training?: TrainingMode;
}

/** Rows and position ids of the N = B * T tokens of a train-mode forward (reads `pos` [N] to JS). */
function dropoutRows(mode: TrainingMode, pos: tf.Tensor, b: number, t: number): DropoutRows {
  const rows = new Int32Array(b * t);
  for (let i = 0; i < b * t; i++) rows[i] = mode.rowOffset + Math.floor(i / t);
  return { seed: mode.seed, rows, positions: Int32Array.from(pos.dataSync()) };
}

/** Where a loaded model came from; savePretrained keeps its dtype and generation_config.json. */
export interface ModelSource {
  dir: string;
  /** Float dtype of the checkpoint's weights. */
  dtype: SafetensorsWriteDtype;
  /** generation_config.json as loaded (null when the directory had none). */
  generationConfig: GenerationConfig | null;
}

export class CausalLM {
  private adapter: LogitsAdapter | null = null;
  private lora: LoraAdapter | null = null;
  private readonly rope: RopeFrequencies | null;
  /**
   * Token ids that end generation by default (generate() without stopTokenIds). loadPretrained sets
   * the union of config.json, generation_config.json and tokenizer eos ids; default [eosTokenId].
   */
  stopTokenIds: number[];
  /** Set by loadPretrained; null for a model made in memory. */
  source: ModelSource | null = null;

  private constructor(
    readonly config: ModelConfig,
    /** Parameters keyed by Hugging Face names; Linear weights stored [in, out] (see file header). */
    readonly weights: Map<string, tf.Variable>,
  ) {
    this.rope = config.family === 'llama' ? ropeFrequencies(config.headDim, config.ropeTheta, config.ropeScaling) : null;
    const eos = [...(config.eosTokenId !== null ? [config.eosTokenId] : []), ...config.eosTokenIds];
    this.stopTokenIds = [...new Set(eos)];
  }

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
   * A model of `config` with every weight 0: a shell whose weights are assigned next (worker-thread
   * replicas), without the cost of the seeded init at a real size.
   */
  static zeros(config: ModelConfig): CausalLM {
    const c = ModelConfigSchema.parse(config);
    const weights = new Map<string, tf.Variable>();
    for (const spec of weightSpecs(c)) {
      const t = tf.zeros(spec.shape);
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
  static fromHfTensors(config: ModelConfig, tensors: Map<string, tf.Tensor>, opts: HfToInternalOptions = {}): CausalLM {
    const c = ModelConfigSchema.parse(config);
    const internal = hfToInternal(c, tensors, opts);
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

  /** The same tensors one at a time (dispose each before taking the next: one extra weight in memory, not a model). */
  eachHfTensor(): Generator<[string, tf.Tensor]> {
    return internalToHfEach(this.config, this.weights);
  }

  setLogitsAdapter(adapter: LogitsAdapter | null): void {
    this.adapter = adapter;
  }

  getLogitsAdapter(): LogitsAdapter | null {
    return this.adapter;
  }

  /**
   * What training updates: the model weights, or only the LoRA variables when a LoRA adapter is
   * attached; plus the logits adapter's variables unless includeAdapter is false.
   */
  trainableVariables(opts: { includeAdapter?: boolean } = {}): tf.Variable[] {
    const vars = this.lora ? this.lora.variables() : [...this.weights.values()];
    if (this.adapter && opts.includeAdapter !== false) vars.push(...this.adapter.variables());
    return vars;
  }

  /**
   * trainableVariables() keyed by stable names for optimizer state: Hugging Face weight names, or
   * PEFT tensor names when LoRA is attached; logits-adapter variables by their tfjs name.
   */
  namedTrainableVariables(opts: { includeAdapter?: boolean } = {}): Map<string, tf.Variable> {
    const out = this.lora ? this.lora.namedVariables() : new Map(this.weights);
    if (this.adapter && opts.includeAdapter !== false) for (const v of this.adapter.variables()) out.set(v.name, v);
    return out;
  }

  /**
   * Attaches a new LoRA adapter (PEFT init, seeded) to the projections named by cfg.targetModules
   * and freezes the base weights (trainable = false): from now on trainableVariables() returns only
   * the adapter's variables. Throws if one is already attached.
   */
  attachLora(cfg: LoraConfigInput | LoraConfig, seed = 0): LoraAdapter {
    return this.setLora(LoraAdapter.create(this.config, cfg, seed));
  }

  /** Attaches an existing adapter (e.g. loadLoraAdapter); the model takes ownership. */
  setLora(adapter: LoraAdapter): LoraAdapter {
    if (this.lora) throw new Error('CausalLM: a LoRA adapter is already attached; detachLora() or mergeLora() first');
    if (adapter.baseModelType !== this.config.modelType) {
      throw new Error(`CausalLM: LoRA adapter was made for model_type ${adapter.baseModelType}, this model is ${this.config.modelType}`);
    }
    this.lora = adapter;
    for (const w of this.weights.values()) w.trainable = false;
    return adapter;
  }

  getLora(): LoraAdapter | null {
    return this.lora;
  }

  /** Removes the LoRA adapter (returned, not disposed) and makes the base weights trainable again. */
  detachLora(): LoraAdapter | null {
    const l = this.lora;
    this.lora = null;
    for (const w of this.weights.values()) w.trainable = true;
    return l;
  }

  /** Folds the attached LoRA update into the base weights (W += s A B), then detaches and disposes the adapter. */
  mergeLora(): void {
    const l = this.lora;
    if (!l) throw new Error('CausalLM.mergeLora: no LoRA adapter attached');
    for (const module of l.pairs.keys()) {
      const w = this.weights.get(`${module}.weight`)!;
      const merged = l.mergedWeight(module, w);
      w.assign(merged);
      merged.dispose();
    }
    this.detachLora();
    l.dispose();
  }

  numParameters(): number {
    let n = 0;
    for (const w of this.weights.values()) n += w.size;
    return n;
  }

  /** Deep copy of the weights and of a LoRA adapter (for frozen reference models). The logits adapter, if any, is shared. */
  clone(): CausalLM {
    const weights = new Map<string, tf.Variable>();
    for (const [name, w] of this.weights) weights.set(name, tf.variable(w, w.trainable));
    const copy = new CausalLM(this.config, weights);
    copy.adapter = this.adapter;
    copy.lora = this.lora?.clone() ?? null;
    copy.stopTokenIds = [...this.stopTokenIds];
    copy.source = this.source;
    return copy;
  }

  dispose(): void {
    for (const w of this.weights.values()) w.dispose();
    this.weights.clear();
    this.lora?.dispose();
    this.lora = null;
  }

  /**
   * x [N, in] @ W [in, out] (+ bias) (+ LoRA update when the module is adapted). `fused`: one
   * dispatch, inference only; `train`: LoRA dropout rows (train mode only).
   */
  private projection(lora: LoraAdapter | null, fused = false, train?: DropoutRows): Projection {
    const lin = fused ? fusedLinear : linear;
    return (x, module, hasBias) => {
      const y = lin(x, this.weight(`${module}.weight`) as tf.Tensor2D, hasBias ? (this.weight(`${module}.bias`) as tf.Tensor1D) : undefined);
      const d = lora?.delta(x, module, train);
      return d ? tf.add(y, d) : y;
    };
  }

  /** Dynamic-NTK rope is exact up to a length; longer sequences are refused, not approximated. */
  private checkLength(total: number): void {
    const c = this.config;
    if (c.ropeScaling?.type === 'dynamic' && total > c.ropeScaling.originalMaxPositions) {
      throw new Error(
        `CausalLM.forward: ${total} positions exceed ${c.ropeScaling.originalMaxPositions}, where dynamic NTK rope scaling starts changing the frequencies; ` +
          'emrl implements it only below that length: shorten the sequence',
      );
    }
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
    const fused = this.fusedStep(opts, t);
    return tf.tidy(() => {
      let x = this.hiddenStates(inputIds, opts); // [B*T, D]
      let rows = t;
      if (opts.lastPositionOnly && t > 1) {
        x = tf.reshape(tf.slice(tf.reshape(x, [b, t, c.hiddenSize]), [0, t - 1, 0], [-1, 1, -1]), [b, c.hiddenSize]);
        rows = 1;
      }
      if (!fused) return this.logitsFromHidden(x, b, rows);
      // Decoding step: one-dispatch head; a tied head is transposed once per cache.
      const logits2 = c.tieWordEmbeddings ? this.tiedHead(x, opts.cache!) : fusedLinear(x, this.weight('lm_head.weight') as tf.Tensor2D); // [B*rows, V]
      const logits = tf.reshape(logits2, [b, rows, c.vocabSize]) as tf.Tensor3D;
      return this.adapter ? this.adapter.apply(logits) : logits;
    });
  }

  /** Decoding steps (T = 1) on an in-place cache take the fused kernels (no gradients; inference only). */
  private fusedStep(opts: ForwardOptions, t: number): boolean {
    return opts.cache?.fused === true && t === 1 && opts.training === undefined && fusedDecodingAvailable();
  }

  /**
   * The decoder's output before the head: the final norm applied, [B*T, D] (row b*T + t is batch
   * row b, position t). forward() is hiddenStates -> logitsFromHidden; the chunked token
   * statistics (modelTokenStats) multiply it by headWeight() a few rows at a time instead.
   */
  hiddenStates(inputIds: tf.Tensor2D, opts: ForwardOptions = {}): tf.Tensor2D {
    const c = this.config;
    const [b, t] = inputIds.shape;
    const cache = opts.cache;
    const past = cache?.length ?? 0;
    this.checkLength(past + t);
    const fused = this.fusedStep(opts, t);
    const lora = opts.disableLora ? null : (opts.lora ?? this.lora);
    return tf.tidy(() => {
      const joined = this.fullMask(b, t, past, opts);
      const mask = joined.mask; // [B, Tk]
      // Decoding steps keep the (tiny) mask, ids and positions on the host: no gather/reshape/cast
      // dispatches, and one read-back of the mask at most.
      const maskHost = fused ? (joined.values ?? (mask.dataSync() as Float32Array)) : null;
      if (cache) cache.setMask(mask, maskHost ?? undefined);
      const n = b * t;
      const tk = past + t;
      const posHost = maskHost ? positionIdsHost(maskHost, b, tk, t) : null;
      const pos = maskHost ? null : (tf.reshape(positionIds(mask, t), [n]) as tf.Tensor1D); // [N]
      const train = lora && lora.config.dropout > 0 && opts.training && pos ? dropoutRows(opts.training, pos, b, t) : undefined;
      const project = this.projection(lora, fused, train);
      const wpe = c.family === 'gpt2' ? this.weight('transformer.wpe.weight') : null;
      let x: tf.Tensor2D; // [N, D]
      if (posHost) x = fusedEmbedding(this.weight(embeddingName(c)), inputIds.dataSync(), wpe, posHost);
      else {
        x = tf.gather(this.weight(embeddingName(c)), tf.reshape(tf.cast(inputIds, 'int32'), [n])) as tf.Tensor2D;
        if (wpe) x = tf.add(x, tf.gather(wpe, pos!));
      }
      const ctx: AttentionContext = {
        config: c,
        weight: this.weight,
        project,
        batch: b,
        seqLen: t,
        bias: maskHost ? attentionBiasHost(maskHost, b, tk, t) : attentionBias(mask, t),
        // The window only changes anything once the sequence is longer than it.
        windowBias:
          c.slidingWindow !== null && tk > c.slidingWindow
            ? maskHost
              ? attentionBiasHost(maskHost, b, tk, t, c.slidingWindow)
              : attentionBias(mask, t, c.slidingWindow)
            : undefined,
        rope: this.rope ? (posHost ? ropeTablesFromPositions(posHost, c.headDim, this.rope) : ropeTables(pos!, c.headDim, this.rope)) : null,
        cache,
        fused,
      };
      for (let i = 0; i < c.numLayers; i++) {
        if (fused && !lora && cache) {
          x = decodeLayer(x, i, ctx, cache); // the whole layer in one dispatch
          continue;
        }
        x = tf.add(x, selfAttention(this.norm(x, i, 1, fused), i, ctx));
        x = tf.add(x, mlp(this.norm(x, i, 2, fused), i, c, project, fused));
      }
      return this.norm(x, -1, 0, fused); // [N, D]
    });
  }

  /**
   * The output head's weight as stored: the tied embedding [V, D] (`transposed: true`: logits =
   * hidden @ weight^T) or an untied lm_head in the [in, out] = [D, V] layout (`transposed: false`:
   * logits = hidden @ weight). The variable itself (not a copy): gradients reach it.
   */
  headWeight(): { weight: tf.Tensor2D; transposed: boolean } {
    const c = this.config;
    return c.tieWordEmbeddings
      ? { weight: this.weight(embeddingName(c)) as tf.Tensor2D, transposed: true }
      : { weight: this.weight('lm_head.weight') as tf.Tensor2D, transposed: false };
  }

  /** hidden [B*rows, D] -> logits [B, rows, V], the logits adapter applied (what forward() returns). */
  logitsFromHidden(hidden: tf.Tensor2D, batch: number, rows: number): tf.Tensor3D {
    const c = this.config;
    if (hidden.shape[0] !== batch * rows) {
      throw new Error(`CausalLM.logitsFromHidden: hidden has ${hidden.shape[0]} rows, expected batch ${batch} x ${rows} positions`);
    }
    return tf.tidy(() => {
      const head = this.headWeight();
      const logits2 = tf.matMul(hidden, head.weight, false, head.transposed); // [B*rows, V]
      const logits = tf.reshape(logits2, [batch, rows, c.vocabSize]) as tf.Tensor3D;
      return this.adapter ? this.adapter.apply(logits) : logits;
    });
  }

  /**
   * Attention mask over all Tk = past + T positions, float32 [B, Tk]; `values`: its values when
   * they were joined on the host (decoding on a fused cache).
   */
  private fullMask(b: number, t: number, past: number, opts: ForwardOptions): { mask: tf.Tensor2D; values?: Float32Array } {
    const given = opts.attentionMask;
    const newCols = (): { mask: tf.Tensor2D } => ({ mask: given ? (tf.cast(given, 'float32') as tf.Tensor2D) : tf.ones([b, t]) });
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
    if (!opts.cache.fused) return { mask: tf.concat([opts.cache.mask, newCols().mask], 1) };
    // Fused cache (decoding): the [B, Tk] mask is tiny, so it is joined on the host (no cast/concat dispatches).
    const old = opts.cache.maskValues()!;
    const cols = given ? given.dataSync() : new Float32Array(b * t).fill(1);
    const out = new Float32Array(b * (past + t));
    for (let r = 0; r < b; r++) {
      out.set(old.subarray(r * past, (r + 1) * past), r * (past + t));
      for (let j = 0; j < t; j++) out[r * (past + t) + past + j] = cols[r * t + j]!;
    }
    return { mask: tf.tensor2d(out, [b, past + t]), values: out };
  }

  /**
   * Tied head x [N, D] @ embedding^T -> [N, V] during decoding (a fused cache). A large embedding
   * (V D >= LARGE_WEIGHT_FLOATS: Qwen2.5-0.5B's 136M floats) is read transposed in place by the
   * large-weight GEMM (native or SIMD), with no copy; a small one (the embedded model) is transposed
   * once per cache, so XNNPACK packs it once instead of re-transposing and re-packing every step.
   */
  private tiedHead(x: tf.Tensor2D, cache: KVCache): tf.Tensor2D {
    const emb = this.weight(embeddingName(this.config)) as tf.Tensor2D; // [V, D]
    const [v, d] = emb.shape;
    if (isLargeWeight(d, v)) return fusedLinear(x, emb, undefined, { transposeB: true });
    return fusedLinear(x, cache.derived('tiedHeadT', emb, () => tf.transpose(emb)) as tf.Tensor2D);
  }

  /** sub 1 = before attention, 2 = before MLP; layer -1 = final norm. `fused`: one dispatch (inference). */
  private norm(x: tf.Tensor2D, layer: number, sub: 0 | 1 | 2, fused = false): tf.Tensor2D {
    const c = this.config;
    if (c.family === 'gpt2') {
      const p = layer < 0 ? 'transformer.ln_f' : `transformer.h.${layer}.ln_${sub}`;
      const [g, b] = [this.weight(`${p}.weight`) as tf.Tensor1D, this.weight(`${p}.bias`) as tf.Tensor1D];
      return fused ? fusedNorm(x, g, b, c.normEps) : layerNorm(x, g, b, c.normEps);
    }
    const p = layer < 0 ? 'model.norm' : `model.layers.${layer}.${sub === 1 ? 'input_layernorm' : 'post_attention_layernorm'}`;
    const g = this.weight(`${p}.weight`) as tf.Tensor1D;
    return fused ? fusedNorm(x, g, null, c.normEps) : rmsNorm(x, g, c.normEps);
  }
}
