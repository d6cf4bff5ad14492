import { describe, expect, it } from 'vitest';
import { defineModelConfig } from './config';
import { parseHfConfig, toHfConfig } from './hf-config/index';

// Field values copied from the public config.json files of these checkpoints.
const GPT2 = {
  activation_function: 'gelu_new',
  architectures: ['GPT2LMHeadModel'],
  attn_pdrop: 0.1,
  bos_token_id: 50256,
  embd_pdrop: 0.1,
  eos_token_id: 50256,
  initializer_range: 0.02,
  layer_norm_epsilon: 1e-5,
  model_type: 'gpt2',
  n_ctx: 1024,
  n_embd: 768,
  n_head: 12,
  n_layer: 12,
  n_positions: 1024,
  resid_pdrop: 0.1,
  summary_activation: null,
  vocab_size: 50257,
};
const QWEN25_05B = {
  architectures: ['Qwen2ForCausalLM'],
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151643,
  hidden_act: 'silu',
  hidden_size: 896,
  initializer_range: 0.02,
  intermediate_size: 4864,
  max_position_embeddings: 32768,
  max_window_layers: 24,
  model_type: 'qwen2',
  num_attention_heads: 14,
  num_hidden_layers: 24,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  sliding_window: 32768,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 151936,
};
const TINYLLAMA = {
  architectures: ['LlamaForCausalLM'],
  bos_token_id: 1,
  eos_token_id: 2,
  hidden_act: 'silu',
  hidden_size: 2048,
  intermediate_size: 5632,
  max_position_embeddings: 2048,
  model_type: 'llama',
  num_attention_heads: 32,
  num_hidden_layers: 22,
  num_key_value_heads: 4,
  rms_norm_eps: 1e-5,
  rope_scaling: null,
  tie_word_embeddings: false,
  vocab_size: 32000,
};

describe('parseHfConfig', () => {
  it('reads GPT-2 (124M)', () => {
    const c = parseHfConfig(GPT2, 'gpt2/config.json');
    expect(c).toMatchObject({
      family: 'gpt2',
      modelType: 'gpt2',
      vocabSize: 50257,
      hiddenSize: 768,
      numLayers: 12,
      numHeads: 12,
      numKvHeads: 12,
      headDim: 64,
      intermediateSize: 3072,
      maxPositions: 1024,
      normEps: 1e-5,
      activation: 'gelu_new',
      tieWordEmbeddings: true,
      eosTokenId: 50256,
      padTokenId: null,
    });
  });

  it('reads Qwen2.5-0.5B with GQA, q/k/v bias and rope_theta', () => {
    const c = parseHfConfig(QWEN25_05B, 'qwen/config.json');
    expect(c).toMatchObject({
      family: 'llama',
      modelType: 'qwen2',
      numHeads: 14,
      numKvHeads: 2,
      headDim: 64,
      intermediateSize: 4864,
      ropeTheta: 1e6,
      normEps: 1e-6,
      attentionBias: true,
      tieWordEmbeddings: true,
      activation: 'silu',
    });
  });

  it('reads TinyLlama with an untied lm_head and no bias', () => {
    const c = parseHfConfig(TINYLLAMA, 'tl/config.json');
    expect(c).toMatchObject({ family: 'llama', modelType: 'llama', numKvHeads: 4, headDim: 64, attentionBias: false, tieWordEmbeddings: false, ropeTheta: 10000 });
  });

  it('keeps the first of several eos ids', () => {
    expect(parseHfConfig({ ...TINYLLAMA, eos_token_id: [2, 7] }, 'x').eosTokenId).toBe(2);
  });

  it.each([
    ['gpt2', GPT2],
    ['qwen2', QWEN25_05B],
    ['llama', TINYLLAMA],
  ])('round-trips %s through toHfConfig', (_name, json) => {
    const c = parseHfConfig(json, 'a/config.json');
    const back = parseHfConfig(toHfConfig(c), 'b/config.json');
    expect(back).toEqual(c);
    expect(toHfConfig(c)['model_type']).toBe(json.model_type);
    expect(toHfConfig(c)['architectures']).toEqual(json.architectures);
  });

  it('names the file and model_type for an unsupported architecture', () => {
    expect(() => parseHfConfig({ model_type: 'mistral' }, 'm/config.json')).toThrow(/m\/config\.json.*"model_type".*"mistral".*gpt2, llama, qwen2/);
  });

  it('fills a missing field with the default of the family config class, as transformers does', () => {
    const { n_layer: _drop, ...noLayers } = GPT2;
    expect(parseHfConfig(noLayers, 'g/config.json').numLayers).toBe(12); // GPT2Config n_layer=12
    const { num_hidden_layers: _d, ...qNo } = QWEN25_05B;
    expect(parseHfConfig(qNo, 'q/config.json').numLayers).toBe(32); // Qwen2Config num_hidden_layers=32
  });

  it('rejects wrong types and unsupported features with a fix', () => {
    expect(() => parseHfConfig({ ...GPT2, n_head: '12' }, 'g')).toThrow(/field "n_head" must be an integer/);
    expect(() => parseHfConfig({ ...TINYLLAMA, rope_scaling: { rope_type: 'longrope', factor: 8 } }, 'l')).toThrow(/rope_scaling.*not supported/);
    expect(() => parseHfConfig({ ...TINYLLAMA, rope_scaling: { rope_type: 'llama3', factor: 8 } }, 'l')).toThrow(/"rope_scaling\.low_freq_factor" is missing/);
    expect(() => parseHfConfig({ ...GPT2, activation_function: 'relu' }, 'g')).toThrow(/activation_function/);
    expect(() => parseHfConfig({ ...TINYLLAMA, num_key_value_heads: 5 }, 'l')).toThrow(/numKvHeads/);
  });
});

describe('defineModelConfig', () => {
  it('fills family defaults', () => {
    const c = defineModelConfig({ family: 'llama', vocabSize: 100, hiddenSize: 48, numLayers: 1, numHeads: 4 });
    expect(c).toMatchObject({ modelType: 'llama', numKvHeads: 4, headDim: 12, intermediateSize: 128, activation: 'silu', attentionBias: false });
    const g = defineModelConfig({ family: 'gpt2', vocabSize: 100, hiddenSize: 48, numLayers: 1, numHeads: 4 });
    expect(g).toMatchObject({ intermediateSize: 192, activation: 'gelu_new', attentionBias: true, tieWordEmbeddings: true });
  });
});
