import { defineModelConfig, type ModelConfig } from '../config';
import { HfReader, isObject } from './reader';
import { readRope } from './rope';

export const SUPPORTED_MODEL_TYPES = ['gpt2', 'llama', 'qwen2', 'qwen3'] as const;
type LlamaFamilyType = 'llama' | 'qwen2' | 'qwen3';

/**
 * Parses a Hugging Face config.json (model_type gpt2, llama, qwen2 or qwen3) into a ModelConfig
 * with the semantics of the family's transformers config class: a missing field takes that class's
 * default (GPT2Config, LlamaConfig, Qwen2Config, Qwen3Config), and every field that would change
 * the forward pass is either implemented or refused with an error naming it. `file` is only used in
 * error messages.
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
  return modelType === 'gpt2' ? parseGpt2(r) : parseLlamaFamily(r, modelType as LlamaFamilyType);
}

/** activation_function values and the GELU each one computes (gelu_fast and gelu_pytorch_tanh are the tanh form). */
const GPT2_ACTIVATIONS: Record<string, 'gelu_new' | 'gelu'> = { gelu_new: 'gelu_new', gelu_pytorch_tanh: 'gelu_new', gelu_fast: 'gelu_new', gelu: 'gelu' };

/** GPT2Config defaults: 768 wide, 12 layers, 12 heads, 1024 positions, vocab 50257, tied head, bos/eos 50256. */
function parseGpt2(r: HfReader): ModelConfig {
  const hidden = r.int('n_embd', 768);
  const heads = r.int('n_head', 12);
  const act = r.str('activation_function', 'gelu_new');
  const activation = GPT2_ACTIVATIONS[act];
  if (!activation) {
    r.fail('activation_function', `= "${act}" is not supported; emrl implements ${Object.keys(GPT2_ACTIVATIONS).join(', ')}`);
  }
  r.unsupported('scale_attn_by_inverse_layer_idx', (v) => v === false, 'set it to false');
  r.unsupported('scale_attn_weights', (v) => v === true, 'set it to true');
  r.unsupported('add_cross_attention', (v) => v === false, 'emrl loads decoder-only GPT-2 (set it to false)');
  const eos = r.tokenIds('eos_token_id', 50256);
  return defineModelConfig(
    {
      family: 'gpt2',
      modelType: 'gpt2',
      vocabSize: r.int('vocab_size', 50257),
      hiddenSize: hidden,
      numLayers: r.int('n_layer', 12),
      numHeads: heads,
      numKvHeads: heads,
      headDim: hidden / heads,
      intermediateSize: r.int('n_inner', 4 * hidden),
      maxPositions: r.int('n_positions', 1024),
      normEps: r.num('layer_norm_epsilon', 1e-5),
      attentionBias: true,
      tieWordEmbeddings: r.bool('tie_word_embeddings', true),
      activation,
      bosTokenId: r.tokenIds('bos_token_id', 50256)[0] ?? null,
      eosTokenId: eos[0] ?? null,
      eosTokenIds: eos.length > 1 ? eos : [],
      padTokenId: r.tokenIds('pad_token_id', null)[0] ?? null,
    },
    r.file,
  );
}

/**
 * The attention window and the first layer that uses it (Qwen2/Qwen3), or null when every layer
 * attends to the full sequence: `layer_types` when given (sliding layers must come last), else
 * layers >= max_window_layers slide when use_sliding_window is true.
 */
function readSlidingWindow(r: HfReader, numLayers: number): { slidingWindow: number | null; maxWindowLayers: number } {
  const window = r.int('sliding_window', 4096);
  const types = r.json['layer_types'];
  let first = numLayers;
  if (Array.isArray(types)) {
    if (types.length !== numLayers || types.some((t) => t !== 'full_attention' && t !== 'sliding_attention')) {
      r.fail('layer_types', `must list "full_attention" or "sliding_attention" for each of the ${numLayers} layers`);
    }
    first = types.indexOf('sliding_attention');
    if (first < 0) first = numLayers;
    else if (types.slice(first).some((t) => t !== 'sliding_attention')) r.fail('layer_types', 'interleaved sliding layers are not supported; emrl supports sliding layers after the full ones (max_window_layers)');
  } else if (r.bool('use_sliding_window', false)) {
    first = Math.min(r.int('max_window_layers', 28), numLayers);
  }
  // sliding_window: null (as Qwen3 ships) means no window at all; absent means the class default 4096.
  const noWindow = r.json['sliding_window'] === null;
  return first < numLayers && !noWindow ? { slidingWindow: window, maxWindowLayers: first } : { slidingWindow: null, maxWindowLayers: 0 };
}

/**
 * LlamaConfig / Qwen2Config / Qwen3Config defaults (transformers): hidden 4096, 32 layers and heads,
 * rms_norm_eps 1e-6, rope_theta 10000, untied lm_head; Llama: intermediate 11008, kv heads = heads,
 * 2048 positions, bos 1 / eos 2; Qwen2/Qwen3: intermediate 22016, 32 kv heads, 32768 positions,
 * vocab 151936; Qwen3 head_dim 128.
 */
function parseLlamaFamily(r: HfReader, modelType: LlamaFamilyType): ModelConfig {
  const llama = modelType === 'llama';
  const hidden = r.int('hidden_size', 4096);
  const heads = r.int('num_attention_heads', 32);
  const numLayers = r.int('num_hidden_layers', 32);
  const maxPositions = r.int('max_position_embeddings', llama ? 2048 : 32768);
  const act = r.str('hidden_act', 'silu');
  if (act !== 'silu') r.fail('hidden_act', `= "${act}" is not supported; emrl implements silu (SwiGLU)`);
  const rope = readRope(r, maxPositions);
  const attnBias = r.bool('attention_bias', false);
  if (modelType === 'qwen2') r.unsupported('attention_bias', (v) => v === false, 'Qwen2 always has q/k/v bias and no o_proj bias; remove the field');
  if (!llama) r.unsupported('mlp_bias', (v) => v === false, `${modelType} has no MLP bias; remove the field`);
  const eos = r.tokenIds('eos_token_id', llama ? 2 : null);
  return defineModelConfig(
    {
      family: 'llama',
      modelType,
      vocabSize: r.int('vocab_size', llama ? 32000 : 151936),
      hiddenSize: hidden,
      numLayers,
      numHeads: heads,
      numKvHeads: r.int('num_key_value_heads', llama ? heads : 32),
      headDim: r.int('head_dim', modelType === 'qwen3' ? 128 : Math.floor(hidden / heads)),
      intermediateSize: r.int('intermediate_size', llama ? 11008 : 22016),
      maxPositions,
      normEps: r.num('rms_norm_eps', 1e-6),
      ropeTheta: rope.theta,
      ropeScaling: rope.scaling,
      attentionBias: modelType === 'qwen2' ? true : attnBias,
      attentionOutBias: modelType === 'qwen2' ? false : attnBias,
      mlpBias: llama ? r.bool('mlp_bias', false) : false,
      qkNorm: modelType === 'qwen3',
      ...(llama ? {} : readSlidingWindow(r, numLayers)),
      tieWordEmbeddings: r.bool('tie_word_embeddings', false),
      activation: 'silu',
      bosTokenId: r.tokenIds('bos_token_id', llama ? 1 : null)[0] ?? null,
      eosTokenId: eos[0] ?? null,
      eosTokenIds: eos.length > 1 ? eos : [],
      padTokenId: r.tokenIds('pad_token_id', null)[0] ?? null,
    },
    r.file,
  );
}
