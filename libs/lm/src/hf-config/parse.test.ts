import { describe, expect, it } from 'vitest';
import { parseHfConfig, toHfConfig, TRANSFORMERS_CONFIG_VERSION } from './index';

// Field values copied from the public config.json files of these checkpoints.
const QWEN3_06B = {
  architectures: ['Qwen3ForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: 151643, eos_token_id: 151645,
  head_dim: 128, hidden_act: 'silu', hidden_size: 1024, initializer_range: 0.02, intermediate_size: 3072, max_position_embeddings: 40960,
  max_window_layers: 28, model_type: 'qwen3', num_attention_heads: 16, num_hidden_layers: 28, num_key_value_heads: 8, rms_norm_eps: 1e-6,
  rope_scaling: null, rope_theta: 1000000, sliding_window: null, tie_word_embeddings: true, torch_dtype: 'bfloat16',
  transformers_version: '4.51.0', use_cache: true, use_sliding_window: false, vocab_size: 151936,
};
const LLAMA32_1B_INSTRUCT = {
  architectures: ['LlamaForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: 128000, eos_token_id: [128001, 128008, 128009],
  head_dim: 64, hidden_act: 'silu', hidden_size: 2048, initializer_range: 0.02, intermediate_size: 8192, max_position_embeddings: 131072,
  mlp_bias: false, model_type: 'llama', num_attention_heads: 32, num_hidden_layers: 16, num_key_value_heads: 8, pretraining_tp: 1,
  rms_norm_eps: 1e-5, rope_scaling: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
  rope_theta: 500000.0, tie_word_embeddings: true, torch_dtype: 'bfloat16', transformers_version: '4.45.0.dev0', use_cache: true, vocab_size: 128256,
};
const QWEN25_MATH_15B = {
  architectures: ['Qwen2ForCausalLM'], bos_token_id: 151643, eos_token_id: 151643, hidden_act: 'silu', hidden_size: 1536, intermediate_size: 8960,
  max_position_embeddings: 4096, max_window_layers: 21, model_type: 'qwen2', num_attention_heads: 12, num_hidden_layers: 28, num_key_value_heads: 2,
  rms_norm_eps: 1e-6, rope_theta: 10000, sliding_window: 4096, tie_word_embeddings: true, use_sliding_window: false, vocab_size: 151936,
};

describe('parseHfConfig: per-family semantics of transformers config classes', () => {
  it('reads Qwen3-0.6B: head_dim 128 != hidden / heads, q/k norm, no bias, tied head', () => {
    expect(parseHfConfig(QWEN3_06B, 'q3/config.json')).toMatchObject({
      family: 'llama', modelType: 'qwen3', headDim: 128, numHeads: 16, numKvHeads: 8, qkNorm: true, attentionBias: false,
      attentionOutBias: false, tieWordEmbeddings: true, ropeTheta: 1e6, ropeScaling: null, slidingWindow: null, eosTokenId: 151645,
    });
  });

  it('reads Llama-3.2-1B-Instruct: llama3 rope scaling, GQA and every eos id', () => {
    expect(parseHfConfig(LLAMA32_1B_INSTRUCT, 'l3/config.json')).toMatchObject({
      modelType: 'llama', numKvHeads: 8, headDim: 64, ropeTheta: 500000, eosTokenId: 128001, eosTokenIds: [128001, 128008, 128009],
      ropeScaling: { type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 },
    });
  });

  it('defaults tie_word_embeddings to false for qwen2, llama and qwen3 and to true for gpt2', () => {
    const { tie_word_embeddings: _a, ...q2 } = QWEN25_MATH_15B;
    expect(parseHfConfig(q2, 'a').tieWordEmbeddings).toBe(false);
    const { tie_word_embeddings: _b, ...q3 } = QWEN3_06B;
    expect(parseHfConfig(q3, 'b').tieWordEmbeddings).toBe(false);
    const { tie_word_embeddings: _c, ...l3 } = LLAMA32_1B_INSTRUCT;
    expect(parseHfConfig(l3, 'c').tieWordEmbeddings).toBe(false);
    expect(parseHfConfig({ model_type: 'gpt2' }, 'd').tieWordEmbeddings).toBe(true);
  });

  it('takes other class defaults: Qwen2Config kv heads 32, Qwen3Config head_dim 128, LlamaConfig bos 1 / eos 2', () => {
    expect(parseHfConfig({ model_type: 'qwen2', num_attention_heads: 32 }, 'x')).toMatchObject({ numKvHeads: 32, hiddenSize: 4096, maxPositions: 32768 });
    expect(parseHfConfig({ model_type: 'qwen3', hidden_size: 64, num_attention_heads: 2, num_key_value_heads: 2 }, 'x').headDim).toBe(128);
    expect(parseHfConfig({ model_type: 'llama' }, 'x')).toMatchObject({ bosTokenId: 1, eosTokenId: 2, numKvHeads: 32, maxPositions: 2048 });
  });

  it('reads the rope base from rope_parameters (current transformers) and refuses a disagreeing rope_theta', () => {
    const { rope_theta: _t, ...noTheta } = QWEN3_06B;
    const c = parseHfConfig({ ...noTheta, rope_parameters: { rope_type: 'default', rope_theta: 1000000 } }, 'p/config.json');
    expect(c.ropeTheta).toBe(1e6);
    expect(c.ropeScaling).toBeNull();
    expect(() => parseHfConfig({ ...QWEN3_06B, rope_parameters: { rope_type: 'default', rope_theta: 5 } }, 'p/config.json')).toThrow(
      /p\/config\.json: field "rope_theta" = 1000000 disagrees with rope_parameters\.rope_theta = 5/,
    );
    const llama3 = parseHfConfig({ ...LLAMA32_1B_INSTRUCT, rope_scaling: null, rope_parameters: { ...LLAMA32_1B_INSTRUCT.rope_scaling, rope_theta: 500000 } }, 'x');
    expect(llama3.ropeScaling).toEqual(parseHfConfig(LLAMA32_1B_INSTRUCT, 'y').ropeScaling);
  });

  it('refuses rope keys it would otherwise ignore, and unsupported rope types, naming the field', () => {
    expect(() => parseHfConfig({ ...QWEN3_06B, rope_scaling: { rope_type: 'yarn', factor: 4, mrope_section: [1] } }, 'f')).toThrow(/"rope_scaling\.mrope_section" is not used by rope type "yarn"/);
    expect(() => parseHfConfig({ ...QWEN3_06B, rope_scaling: { type: 'longrope', factor: 4 } }, 'f')).toThrow(/"rope_scaling\.rope_type" = "longrope" is not supported/);
    expect(() => parseHfConfig({ ...QWEN3_06B, rope_scaling: { type: 'linear', factor: 4, partial_rotary_factor: 0.5 } }, 'f')).toThrow(/partial_rotary_factor/);
  });

  it('reads the yarn block Qwen2.5 / Qwen3 model cards suggest', () => {
    const c = parseHfConfig({ ...QWEN3_06B, rope_scaling: { rope_type: 'yarn', factor: 4.0, original_max_position_embeddings: 32768 } }, 'y');
    expect(c.ropeScaling).toMatchObject({ type: 'yarn', factor: 4, originalMaxPositions: 32768, betaFast: 32, betaSlow: 1, truncate: true });
  });

  it('loads use_sliding_window: false, and keeps the window (refused above it at run time) when it is on', () => {
    expect(parseHfConfig(QWEN25_MATH_15B, 'q').slidingWindow).toBeNull();
    expect(parseHfConfig({ ...QWEN25_MATH_15B, use_sliding_window: true }, 'q')).toMatchObject({ slidingWindow: 4096, maxWindowLayers: 21 });
    expect(parseHfConfig({ ...QWEN25_MATH_15B, use_sliding_window: true, max_window_layers: 28 }, 'q').slidingWindow).toBeNull(); // no layer >= 28
    expect(parseHfConfig({ ...QWEN3_06B, use_sliding_window: true, max_window_layers: 2 }, 'q').slidingWindow).toBeNull(); // sliding_window: null
    const types = Array.from({ length: 28 }, (_, i) => (i % 2 ? 'sliding_attention' : 'full_attention'));
    expect(() => parseHfConfig({ ...QWEN25_MATH_15B, layer_types: types }, 'q')).toThrow(/"layer_types" interleaved sliding layers are not supported/);
  });

  it('reads GPT-2 with an untied head and exact GELU', () => {
    const c = parseHfConfig({ model_type: 'gpt2', tie_word_embeddings: false, activation_function: 'gelu' }, 'g');
    expect(c).toMatchObject({ tieWordEmbeddings: false, activation: 'gelu', hiddenSize: 768, numLayers: 12, eosTokenId: 50256 });
    expect(parseHfConfig({ model_type: 'gpt2', activation_function: 'gelu_pytorch_tanh' }, 'g').activation).toBe('gelu_new');
  });

  it('refuses Qwen2 attention_bias and Qwen3 mlp_bias, which the classes do not have', () => {
    expect(() => parseHfConfig({ ...QWEN25_MATH_15B, attention_bias: true }, 'q')).toThrow(/"attention_bias".*Qwen2 always has q\/k\/v bias/);
    expect(() => parseHfConfig({ ...QWEN3_06B, mlp_bias: true }, 'q')).toThrow(/"mlp_bias".*qwen3 has no MLP bias/);
  });

  it.each([
    ['qwen3', QWEN3_06B],
    ['llama 3.2', LLAMA32_1B_INSTRUCT],
    ['qwen2.5-math', QWEN25_MATH_15B],
    ['qwen2 sliding', { ...QWEN25_MATH_15B, use_sliding_window: true }],
    ['qwen3 yarn', { ...QWEN3_06B, rope_scaling: { rope_type: 'yarn', factor: 4.0, original_max_position_embeddings: 32768, mscale: 0.7, mscale_all_dim: 1 } }],
    ['gpt2 untied gelu', { model_type: 'gpt2', tie_word_embeddings: false, activation_function: 'gelu' }],
    ['llama biases', { model_type: 'llama', attention_bias: true, mlp_bias: true, rope_scaling: { type: 'linear', factor: 2 } }],
  ])('round-trips %s through toHfConfig, writing transformers_version', (_n, json) => {
    const c = parseHfConfig(json, 'a/config.json');
    const hf = toHfConfig(c);
    expect(parseHfConfig(hf, 'b/config.json')).toEqual(c);
    expect(hf['transformers_version']).toBe(TRANSFORMERS_CONFIG_VERSION);
  });
});
