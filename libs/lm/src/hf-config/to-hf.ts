import type { ModelConfig } from '../config';
import type { RopeScaling } from '../model/rope-scaling';

/**
 * transformers version whose config.json semantics emrl writes (v4 keys: rope_theta + rope_scaling,
 * which later versions still read). Written as `transformers_version` like save_pretrained does.
 */
export const TRANSFORMERS_CONFIG_VERSION = '4.56.0';

function ropeScalingJson(s: RopeScaling | null): Record<string, unknown> | null {
  if (!s) return null;
  switch (s.type) {
    case 'linear':
      return { rope_type: 'linear', factor: s.factor };
    case 'dynamic':
      return { rope_type: 'dynamic', factor: s.factor, original_max_position_embeddings: s.originalMaxPositions };
    case 'llama3':
      return {
        rope_type: 'llama3',
        factor: s.factor,
        low_freq_factor: s.lowFreqFactor,
        high_freq_factor: s.highFreqFactor,
        original_max_position_embeddings: s.originalMaxPositions,
      };
    case 'yarn': {
      const out: Record<string, unknown> = {
        rope_type: 'yarn',
        factor: s.factor,
        original_max_position_embeddings: s.originalMaxPositions,
        beta_fast: s.betaFast,
        beta_slow: s.betaSlow,
        truncate: s.truncate,
      };
      if (s.attentionFactor !== null) out['attention_factor'] = s.attentionFactor;
      if (s.mscale !== null) out['mscale'] = s.mscale;
      if (s.mscaleAllDim !== null) out['mscale_all_dim'] = s.mscaleAllDim;
      return out;
    }
  }
}

const ARCHITECTURES = { llama: 'LlamaForCausalLM', qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM' } as const;

/** Writes a config.json that Hugging Face transformers loads as the same architecture. */
export function toHfConfig(config: ModelConfig): Record<string, unknown> {
  const eos = config.eosTokenIds.length > 1 ? config.eosTokenIds : config.eosTokenId;
  const ids = { bos_token_id: config.bosTokenId, eos_token_id: eos, pad_token_id: config.padTokenId };
  const common = { transformers_version: TRANSFORMERS_CONFIG_VERSION, torch_dtype: 'float32', ...ids };
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
      activation_function: config.activation,
      resid_pdrop: 0,
      embd_pdrop: 0,
      attn_pdrop: 0,
      scale_attn_weights: true,
      tie_word_embeddings: config.tieWordEmbeddings,
      ...common,
    };
  }
  const mt = config.modelType as keyof typeof ARCHITECTURES;
  const sliding =
    mt === 'llama' ? {} : { use_sliding_window: config.slidingWindow !== null, sliding_window: config.slidingWindow, max_window_layers: config.slidingWindow !== null ? config.maxWindowLayers : config.numLayers };
  return {
    architectures: [ARCHITECTURES[mt]],
    model_type: mt,
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
    rope_scaling: ropeScalingJson(config.ropeScaling),
    hidden_act: 'silu',
    ...(mt === 'qwen2' ? {} : { attention_bias: config.attentionBias }),
    ...(mt === 'llama' ? { mlp_bias: config.mlpBias } : {}),
    ...sliding,
    tie_word_embeddings: config.tieWordEmbeddings,
    attention_dropout: 0,
    ...common,
  };
}
