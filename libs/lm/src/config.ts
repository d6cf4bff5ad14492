import { z } from 'zod';

/**
 * Normalized decoder configuration shared by both model families.
 *
 * - family 'gpt2': learned positions, LayerNorm with bias, GELU (tanh approx), fused c_attn.
 * - family 'llama': RMSNorm, rotary embeddings, grouped-query attention, SwiGLU; Qwen2 is this family
 *   with q/k/v bias (modelType keeps which Hugging Face architecture the weights came from).
 */
export const ModelConfigSchema = z
  .object({
    family: z.enum(['gpt2', 'llama']),
    modelType: z.enum(['gpt2', 'llama', 'qwen2']).meta({ description: 'Hugging Face model_type the config round-trips to' }),
    vocabSize: z.number().int().positive(),
    hiddenSize: z.number().int().positive(),
    numLayers: z.number().int().positive(),
    numHeads: z.number().int().positive(),
    numKvHeads: z.number().int().positive().meta({ description: 'key/value heads (GQA); equals numHeads for gpt2' }),
    headDim: z.number().int().positive(),
    intermediateSize: z.number().int().positive(),
    maxPositions: z.number().int().positive(),
    normEps: z.number().positive().default(1e-5),
    ropeTheta: z.number().positive().default(10000).meta({ description: 'rotary base; unused by gpt2' }),
    attentionBias: z.boolean().default(false).meta({ description: 'q/k/v projection bias (Qwen2: true); gpt2 always has biases' }),
    tieWordEmbeddings: z.boolean().default(true),
    activation: z.enum(['gelu_new', 'silu']),
    bosTokenId: z.number().int().nonnegative().nullable().default(null),
    eosTokenId: z.number().int().nonnegative().nullable().default(null),
    padTokenId: z.number().int().nonnegative().nullable().default(null),
  })
  .superRefine((c, ctx) => {
    const issue = (path: string, message: string): void => {
      ctx.addIssue({ code: 'custom', path: [path], message });
    };
    if (c.numHeads % c.numKvHeads !== 0) {
      issue('numKvHeads', `numHeads (${c.numHeads}) must be a multiple of numKvHeads (${c.numKvHeads})`);
    }
    if (c.family === 'gpt2') {
      if (c.modelType !== 'gpt2') issue('modelType', `family gpt2 needs modelType gpt2, got ${c.modelType}`);
      if (c.numKvHeads !== c.numHeads) issue('numKvHeads', `gpt2 has no GQA: set numKvHeads = numHeads (${c.numHeads})`);
      if (c.headDim * c.numHeads !== c.hiddenSize) {
        issue('headDim', `gpt2 needs headDim * numHeads = hiddenSize (${c.headDim} * ${c.numHeads} != ${c.hiddenSize})`);
      }
      if (c.activation !== 'gelu_new') issue('activation', 'gpt2 uses activation gelu_new');
      if (!c.tieWordEmbeddings) issue('tieWordEmbeddings', 'gpt2 always ties lm_head to wte; set tieWordEmbeddings true');
      if (!c.attentionBias) issue('attentionBias', 'gpt2 always has attention biases; set attentionBias true');
    } else {
      if (c.modelType === 'gpt2') issue('modelType', 'family llama needs modelType llama or qwen2');
      if (c.activation !== 'silu') issue('activation', 'llama/qwen2 use activation silu (SwiGLU)');
      if (c.modelType === 'qwen2' && !c.attentionBias) issue('attentionBias', 'qwen2 always has q/k/v bias; set attentionBias true');
      if (c.headDim % 2 !== 0) issue('headDim', `rotary embeddings need an even headDim, got ${c.headDim}`);
    }
  });

export type ModelConfig = z.infer<typeof ModelConfigSchema>;
export type ModelFamily = ModelConfig['family'];

/** Input to defineModelConfig: sizes plus anything that differs from the family defaults. */
export type ModelConfigInput = Partial<z.input<typeof ModelConfigSchema>> &
  Pick<z.input<typeof ModelConfigSchema>, 'family' | 'vocabSize' | 'hiddenSize' | 'numLayers' | 'numHeads'>;

/**
 * Fills family defaults (modelType, numKvHeads = numHeads, headDim = hiddenSize / numHeads,
 * intermediateSize 4*hidden for gpt2 and 8/3*hidden rounded to 32 for llama, activation,
 * maxPositions 1024, attentionBias for gpt2/qwen2) and validates. Throws a readable error naming the field.
 */
export function defineModelConfig(input: ModelConfigInput, source = 'model config'): ModelConfig {
  const gpt2 = input.family === 'gpt2';
  const hidden = input.hiddenSize;
  const filled = {
    modelType: gpt2 ? 'gpt2' : 'llama',
    numKvHeads: input.numHeads,
    headDim: Math.floor(hidden / input.numHeads),
    intermediateSize: gpt2 ? 4 * hidden : Math.ceil((8 * hidden) / 3 / 32) * 32,
    activation: gpt2 ? 'gelu_new' : 'silu',
    maxPositions: 1024,
    attentionBias: gpt2 || input.modelType === 'qwen2',
    ...input,
  };
  const parsed = ModelConfigSchema.safeParse(filled);
  if (!parsed.success) throw new Error(`${source}: invalid model config\n${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

// ---------------------------------------------------------------------------------------------
// Hugging Face config.json

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads HF fields with errors that name the file, the field and the fix. */
class HfReader {
  constructor(
    readonly json: Json,
    readonly file: string,
  ) {}

  private fail(field: string, what: string): never {
    throw new Error(`${this.file}: field "${field}" ${what}`);
  }

  int(field: string, fallback?: number): number {
    const v = this.json[field];
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      this.fail(field, `is missing; add it (an integer) to ${this.file} (model_type ${String(this.json['model_type'])})`);
    }
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail(field, `must be an integer, got ${JSON.stringify(v)}`);
    return v;
  }

  num(field: string, fallback?: number): number {
    const v = this.json[field];
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      this.fail(field, `is missing; add it (a number) to ${this.file}`);
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(field, `must be a number, got ${JSON.stringify(v)}`);
    return v;
  }

  bool(field: string, fallback: boolean): boolean {
    const v = this.json[field];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') this.fail(field, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  str(field: string, fallback: string): string {
    const v = this.json[field];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'string') this.fail(field, `must be a string, got ${JSON.stringify(v)}`);
    return v;
  }

  /** Token id: a number, null, or a list (the first id is kept; HF allows several eos ids). */
  tokenId(field: string, fallback: number | null = null): number | null {
    const v = this.json[field];
    if (v === undefined || v === null) return fallback;
    const first = Array.isArray(v) ? (v[0] as unknown) : v;
    if (first === undefined) return fallback;
    if (typeof first !== 'number' || !Number.isInteger(first) || first < 0) {
      this.fail(field, `must be a non-negative integer token id (or a list of them), got ${JSON.stringify(v)}`);
    }
    return first;
  }

  unsupported(field: string, ok: (v: unknown) => boolean, fix: string): void {
    const v = this.json[field];
    if (v !== undefined && v !== null && !ok(v)) this.fail(field, `= ${JSON.stringify(v)} is not supported by emrl; ${fix}`);
  }
}

const SUPPORTED_MODEL_TYPES = ['gpt2', 'llama', 'qwen2'] as const;

/**
 * Parses a Hugging Face config.json (model_type gpt2, llama or qwen2) into a ModelConfig.
 * `file` is only used in error messages.
 */
export function parseHfConfig(json: unknown, file: string): ModelConfig {
  if (!isObject(json)) throw new Error(`${file}: expected a JSON object (a Hugging Face config.json)`);
  const modelType = json['model_type'];
  if (typeof modelType !== 'string' || !(SUPPORTED_MODEL_TYPES as readonly string[]).includes(modelType)) {
    throw new Error(
      `${file}: field "model_type" = ${JSON.stringify(modelType)} is not supported; ` +
        `emrl loads ${SUPPORTED_MODEL_TYPES.join(', ')} checkpoints (pick a model with one of these architectures)`,
    );
  }
  const r = new HfReader(json, file);
  return modelType === 'gpt2' ? parseGpt2(r) : parseLlama(r, modelType as 'llama' | 'qwen2');
}

function parseGpt2(r: HfReader): ModelConfig {
  const hidden = r.int('n_embd');
  const heads = r.int('n_head');
  const act = r.str('activation_function', 'gelu_new');
  if (act !== 'gelu_new' && act !== 'gelu_pytorch_tanh') {
    throw new Error(`${r.file}: field "activation_function" = "${act}" is not supported; emrl implements gelu_new (tanh approximation)`);
  }
  r.unsupported('scale_attn_by_inverse_layer_idx', (v) => v === false, 'set it to false');
  r.unsupported('scale_attn_weights', (v) => v === true, 'set it to true');
  r.unsupported('tie_word_embeddings', (v) => v === true, 'GPT2LMHeadModel always ties lm_head to wte');
  return defineModelConfig(
    {
      family: 'gpt2',
      modelType: 'gpt2',
      vocabSize: r.int('vocab_size'),
      hiddenSize: hidden,
      numLayers: r.int('n_layer'),
      numHeads: heads,
      numKvHeads: heads,
      headDim: hidden / heads,
      intermediateSize: r.int('n_inner', 4 * hidden),
      maxPositions: r.int('n_positions'),
      normEps: r.num('layer_norm_epsilon', 1e-5),
      attentionBias: true,
      tieWordEmbeddings: true,
      activation: 'gelu_new',
      bosTokenId: r.tokenId('bos_token_id'),
      eosTokenId: r.tokenId('eos_token_id'),
      padTokenId: r.tokenId('pad_token_id'),
    },
    r.file,
  );
}

function parseLlama(r: HfReader, modelType: 'llama' | 'qwen2'): ModelConfig {
  const hidden = r.int('hidden_size');
  const heads = r.int('num_attention_heads');
  const act = r.str('hidden_act', 'silu');
  if (act !== 'silu') throw new Error(`${r.file}: field "hidden_act" = "${act}" is not supported; emrl implements silu (SwiGLU)`);
  r.unsupported(
    'rope_scaling',
    (v) => isObject(v) && (v['rope_type'] ?? v['type']) === 'default',
    'remove rope_scaling (only unscaled rotary embeddings are implemented)',
  );
  r.unsupported('mlp_bias', (v) => v === false, 'set it to false (MLP biases are not implemented)');
  return defineModelConfig(
    {
      family: 'llama',
      modelType,
      vocabSize: r.int('vocab_size'),
      hiddenSize: hidden,
      numLayers: r.int('num_hidden_layers'),
      numHeads: heads,
      numKvHeads: r.int('num_key_value_heads', heads),
      headDim: r.int('head_dim', Math.floor(hidden / heads)),
      intermediateSize: r.int('intermediate_size'),
      maxPositions: r.int('max_position_embeddings'),
      normEps: r.num('rms_norm_eps', 1e-6),
      ropeTheta: r.num('rope_theta', 10000),
      // Qwen2 always has q/k/v bias (its config has no attention_bias field).
      attentionBias: modelType === 'qwen2' ? true : r.bool('attention_bias', false),
      tieWordEmbeddings: r.bool('tie_word_embeddings', modelType !== 'llama'),
      activation: 'silu',
      bosTokenId: r.tokenId('bos_token_id'),
      eosTokenId: r.tokenId('eos_token_id'),
      padTokenId: r.tokenId('pad_token_id'),
    },
    r.file,
  );
}

/** Writes a config.json that Hugging Face transformers loads as the same architecture. */
export function toHfConfig(config: ModelConfig): Record<string, unknown> {
  const ids = { bos_token_id: config.bosTokenId, eos_token_id: config.eosTokenId, pad_token_id: config.padTokenId };
  if (config.family === 'gpt2') {
    return {
      architectures: ['GPT2LMHeadModel'],
      model_type: 'gpt2',
      vocab_size: config.vocabSize,
      n_embd: config.hiddenSize,
      n_layer: config.numLayers,
      n_head: config.numHeads,
      n_inner: config.intermediateSize,
      n_positions: config.maxPositions,
      n_ctx: config.maxPositions,
      layer_norm_epsilon: config.normEps,
      activation_function: 'gelu_new',
      resid_pdrop: 0,
      embd_pdrop: 0,
      attn_pdrop: 0,
      scale_attn_weights: true,
      tie_word_embeddings: true,
      torch_dtype: 'float32',
      ...ids,
    };
  }
  const arch = config.modelType === 'qwen2' ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM';
  return {
    architectures: [arch],
    model_type: config.modelType,
    vocab_size: config.vocabSize,
    hidden_size: config.hiddenSize,
    num_hidden_layers: config.numLayers,
    num_attention_heads: config.numHeads,
    num_key_value_heads: config.numKvHeads,
    head_dim: config.headDim,
    intermediate_size: config.intermediateSize,
    max_position_embeddings: config.maxPositions,
    rms_norm_eps: config.normEps,
    rope_theta: config.ropeTheta,
    rope_scaling: null,
    hidden_act: 'silu',
    ...(config.modelType === 'llama' ? { attention_bias: config.attentionBias, mlp_bias: false } : {}),
    tie_word_embeddings: config.tieWordEmbeddings,
    attention_dropout: 0,
    torch_dtype: 'float32',
    ...ids,
  };
}
