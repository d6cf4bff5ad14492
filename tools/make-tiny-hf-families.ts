/**
 * make-tiny-hf-families: writes tiny random-weight checkpoints of the Qwen3, Llama 3, Llama with
 * every bias + rope_parameters, and GPT-2 (untied head, exact GELU) families for tests, with the keys
 * of the real config.json files.
 *
 * Usage: npx tsx --import ./tools/bench/register-hooks.ts tools/make-tiny-hf-families.ts [fixturesDir]
 *        (default libs/lm/fixtures), then `/usr/bin/python3 tools/torch_reference_families.py` writes
 *        each directory's expected_logits.json (and the PEFT adapter fixture) with plain torch.
 *
 * Each directory: config.json, model.safetensors (BF16), tokenizer.json (byte-level, no merges,
 * 256 bytes + 3 specials), tokenizer_config.json, generation_config.json. Sizes are tiny (hidden 16,
 * 2 layers) and the rope settings are shrunk so that every regime of the scaling (kept, ramped,
 * interpolated frequencies) is hit within 8 positions. Deterministic (seeds below).
 */
import { join, resolve } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { buildByteLevelBpeJson, seededRandom, writeFileAtomic, writeSafetensors, type RawTensor } from '@emrl/lm';

type Json = Record<string, unknown>;

function normalSampler(seed: number): () => number {
  const uniform = seededRandom(seed);
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

/** Collects tensors in Hugging Face layout; linear weights [out, in] scaled 1/sqrt(in) so logits spread over a few units. */
class TensorSet {
  readonly tensors = new Map<string, RawTensor>();
  constructor(readonly randn: () => number) {}
  add(name: string, shape: number[], f: () => number): void {
    const n = shape.reduce((a, b) => a * b, 1);
    this.tensors.set(name, { shape, data: Float32Array.from({ length: n }, f) });
  }
  linear(name: string, out: number, inp: number, bias: boolean): void {
    this.add(`${name}.weight`, [out, inp], () => this.randn() / Math.sqrt(inp));
    if (bias) this.add(`${name}.bias`, [out], () => 0.1 * this.randn());
  }
  gain(name: string, n: number): void {
    this.add(name, [n], () => 1 + 0.1 * this.randn());
  }
}

const SPECIALS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];
const VOCAB = 256 + SPECIALS.length;
const H = 16;
const L = 2;

interface LlamaShape {
  heads: number;
  kvHeads: number;
  headDim: number;
  inter: number;
  qkNorm: boolean;
  tied: boolean;
  /** Llama attention_bias (q/k/v/o) and mlp_bias. */
  bias?: boolean;
  layers?: number;
}

function llamaFamilyTensors(seed: number, opts: LlamaShape): Map<string, RawTensor> {
  const t = new TensorSet(normalSampler(seed));
  const { heads, kvHeads, headDim: hd, inter } = opts;
  const b = opts.bias ?? false;
  t.add('model.embed_tokens.weight', [VOCAB, H], () => 0.5 * t.randn());
  for (let l = 0; l < (opts.layers ?? L); l++) {
    const p = `model.layers.${l}`;
    t.gain(`${p}.input_layernorm.weight`, H);
    t.linear(`${p}.self_attn.q_proj`, heads * hd, H, b);
    t.linear(`${p}.self_attn.k_proj`, kvHeads * hd, H, b);
    t.linear(`${p}.self_attn.v_proj`, kvHeads * hd, H, b);
    if (opts.qkNorm) {
      t.gain(`${p}.self_attn.q_norm.weight`, hd);
      t.gain(`${p}.self_attn.k_norm.weight`, hd);
    }
    t.linear(`${p}.self_attn.o_proj`, H, heads * hd, b);
    t.gain(`${p}.post_attention_layernorm.weight`, H);
    t.linear(`${p}.mlp.gate_proj`, inter, H, b);
    t.linear(`${p}.mlp.up_proj`, inter, H, b);
    t.linear(`${p}.mlp.down_proj`, H, inter, b);
  }
  t.gain('model.norm.weight', H);
  if (!opts.tied) t.linear('lm_head', VOCAB, H, false);
  return t.tensors;
}

/** Qwen3-0.6B's config.json keys; head_dim 8 != hidden / heads (4), yarn rope as the Qwen3 model card suggests for long context. */
function qwen3(): { config: Json; tensors: Map<string, RawTensor> } {
  const eos = VOCAB - 1;
  const config = {
    architectures: ['Qwen3ForCausalLM'],
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: VOCAB - 3,
    eos_token_id: eos,
    head_dim: 8,
    hidden_act: 'silu',
    hidden_size: H,
    initializer_range: 0.02,
    intermediate_size: 32,
    max_position_embeddings: 256,
    max_window_layers: L,
    model_type: 'qwen3',
    num_attention_heads: 4,
    num_hidden_layers: L,
    num_key_value_heads: 2,
    rms_norm_eps: 1e-6,
    rope_scaling: { rope_type: 'yarn', factor: 4.0, original_max_position_embeddings: 64 },
    rope_theta: 10000,
    sliding_window: null,
    tie_word_embeddings: false,
    torch_dtype: 'bfloat16',
    transformers_version: '4.51.0',
    use_cache: true,
    use_sliding_window: false,
    vocab_size: VOCAB,
  };
  return { config, tensors: llamaFamilyTensors(3003, { heads: 4, kvHeads: 2, headDim: 8, inter: 32, qkNorm: true, tied: false }) };
}

/** Llama-3.2-1B's config.json keys (llama3 rope scaling, GQA, tied head as the 1B/3B ship), shrunk rope lengths. */
function llama3(): { config: Json; tensors: Map<string, RawTensor> } {
  const config = {
    architectures: ['LlamaForCausalLM'],
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: VOCAB - 3,
    eos_token_id: [VOCAB - 3, VOCAB - 1],
    head_dim: 8,
    hidden_act: 'silu',
    hidden_size: H,
    initializer_range: 0.02,
    intermediate_size: 32,
    max_position_embeddings: 512,
    mlp_bias: false,
    model_type: 'llama',
    num_attention_heads: 2,
    num_hidden_layers: L,
    num_key_value_heads: 1,
    pretraining_tp: 1,
    rms_norm_eps: 1e-5,
    rope_scaling: { factor: 8.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 64, rope_type: 'llama3' },
    rope_theta: 10000.0,
    tie_word_embeddings: true,
    torch_dtype: 'bfloat16',
    transformers_version: '4.45.0.dev0',
    use_cache: true,
    vocab_size: VOCAB,
  };
  return { config, tensors: llamaFamilyTensors(3131, { heads: 2, kvHeads: 1, headDim: 8, inter: 32, qkNorm: false, tied: true }) };
}

/**
 * A Llama with every bias LlamaConfig allows (attention_bias: q/k/v/o, mlp_bias: gate/up/down) and
 * its rope given only as current transformers writes it: rope_parameters with linear scaling.
 */
function llamaBias(): { config: Json; tensors: Map<string, RawTensor> } {
  const config = {
    architectures: ['LlamaForCausalLM'],
    attention_bias: true,
    bos_token_id: VOCAB - 3,
    eos_token_id: VOCAB - 1,
    hidden_act: 'silu',
    hidden_size: H,
    intermediate_size: 32,
    max_position_embeddings: 128,
    mlp_bias: true,
    model_type: 'llama',
    num_attention_heads: 2,
    num_hidden_layers: 1,
    num_key_value_heads: 2,
    rms_norm_eps: 1e-6,
    rope_parameters: { rope_type: 'linear', factor: 2.0, rope_theta: 500.0 },
    tie_word_embeddings: true,
    vocab_size: VOCAB,
  };
  return { config, tensors: llamaFamilyTensors(4242, { heads: 2, kvHeads: 2, headDim: 8, inter: 32, qkNorm: false, tied: true, bias: true, layers: 1 }) };
}

/** GPT-2 with an untied lm_head and exact GELU (activation_function "gelu"). */
function gpt2(): { config: Json; tensors: Map<string, RawTensor> } {
  const t = new TensorSet(normalSampler(2002));
  const randn = t.randn;
  const I = 4 * H;
  t.add('transformer.wte.weight', [VOCAB, H], () => 0.5 * randn());
  t.add('transformer.wpe.weight', [32, H], () => 0.1 * randn());
  // Conv1D weights are [in, out].
  const conv = (name: string, inp: number, out: number): void => {
    t.add(`${name}.weight`, [inp, out], () => randn() / Math.sqrt(inp));
    t.add(`${name}.bias`, [out], () => 0.1 * randn());
  };
  for (let l = 0; l < L; l++) {
    const p = `transformer.h.${l}`;
    t.gain(`${p}.ln_1.weight`, H);
    t.add(`${p}.ln_1.bias`, [H], () => 0.1 * randn());
    conv(`${p}.attn.c_attn`, H, 3 * H);
    conv(`${p}.attn.c_proj`, H, H);
    t.gain(`${p}.ln_2.weight`, H);
    t.add(`${p}.ln_2.bias`, [H], () => 0.1 * randn());
    conv(`${p}.mlp.c_fc`, H, I);
    conv(`${p}.mlp.c_proj`, I, H);
  }
  t.gain('transformer.ln_f.weight', H);
  t.add('transformer.ln_f.bias', [H], () => 0.1 * randn());
  t.linear('lm_head', VOCAB, H, false);
  const config = {
    activation_function: 'gelu',
    architectures: ['GPT2LMHeadModel'],
    attn_pdrop: 0.1,
    bos_token_id: VOCAB - 3,
    embd_pdrop: 0.1,
    eos_token_id: VOCAB - 3,
    initializer_range: 0.02,
    layer_norm_epsilon: 1e-5,
    model_type: 'gpt2',
    n_ctx: 32,
    n_embd: H,
    n_head: 4,
    n_inner: null,
    n_layer: L,
    n_positions: 32,
    resid_pdrop: 0.1,
    scale_attn_weights: true,
    tie_word_embeddings: false,
    vocab_size: VOCAB,
  };
  return { config, tensors: t.tensors };
}

async function writeFixture(dir: string, made: { config: Json; tensors: Map<string, RawTensor> }, generation: Json): Promise<void> {
  await mkdir(dir, { recursive: true });
  const json = (v: unknown): string => JSON.stringify(v, null, 2) + '\n';
  const tokenizerConfig = { tokenizer_class: 'PreTrainedTokenizerFast', bos_token: null, eos_token: '<|im_end|>', pad_token: '<|endoftext|>', clean_up_tokenization_spaces: false };
  await writeSafetensors(join(dir, 'model.safetensors'), made.tensors, { dtype: 'BF16', metadata: { format: 'pt' } });
  await writeFileAtomic(join(dir, 'config.json'), json(made.config));
  await writeFileAtomic(join(dir, 'tokenizer.json'), JSON.stringify(buildByteLevelBpeJson({ merges: [], specials: SPECIALS })) + '\n');
  await writeFileAtomic(join(dir, 'tokenizer_config.json'), json(tokenizerConfig));
  await writeFileAtomic(join(dir, 'generation_config.json'), json(generation));
  console.log(`wrote ${dir} (${made.tensors.size} tensors)`);
}

export async function makeTinyHfFamilies(root: string): Promise<void> {
  await writeFixture(join(root, 'tiny-qwen3'), qwen3(), { bos_token_id: VOCAB - 3, eos_token_id: [VOCAB - 1, VOCAB - 3], pad_token_id: VOCAB - 3, do_sample: true, temperature: 0.6, top_k: 20, top_p: 0.95, transformers_version: '4.51.0' });
  await writeFixture(join(root, 'tiny-llama3'), llama3(), { bos_token_id: VOCAB - 3, eos_token_id: [VOCAB - 3, VOCAB - 2, VOCAB - 1], do_sample: true, temperature: 0.6, top_p: 0.9, transformers_version: '4.45.0.dev0' });
  await writeFixture(join(root, 'tiny-llama-bias'), llamaBias(), { bos_token_id: VOCAB - 3, eos_token_id: VOCAB - 1 });
  await writeFixture(join(root, 'tiny-gpt2-untied'), gpt2(), { bos_token_id: VOCAB - 3, eos_token_id: VOCAB - 3, transformers_version: '4.51.0' });
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  await makeTinyHfFamilies(resolve(process.argv[2] ?? 'libs/lm/fixtures'));
}
