/**
 * make-tiny-qwen2: writes a tiny random-weight Qwen2 checkpoint directory for tests.
 *
 * Usage: npx tsx --import ./tools/bench/register-hooks.ts tools/make-tiny-qwen2.ts [outDir]
 *        (default outDir libs/lm/fixtures/tiny-qwen2; the hook lets tfjs-core's deep imports load under tsx)
 *
 * Writes config.json (Qwen2ForCausalLM: hidden 32, 2 layers, 4 heads, 2 kv heads, intermediate 64,
 * untied lm_head, q/k/v bias), model.safetensors (BF16, like the released Qwen2 weights),
 * tokenizer.json (byte-level BPE with a small merges list and Qwen2's pre-tokenizer split),
 * tokenizer_config.json (Qwen2 chat template) and generation_config.json. Deterministic (seed 1234).
 * Then run `/usr/bin/python3 tools/torch_reference.py` to refresh expected_logits.json.
 */
import { join, resolve } from 'node:path';
import { buildByteLevelBpeJson, QWEN2_CHAT_TEMPLATE, QWEN2_SPLIT_PATTERN, seededRandom, writeFileAtomic, writeSafetensors, type RawTensor } from '@emrl/lm';

const SEED = 1234;

/** Merges (byte-level spelling, Ġ = space, Ċ = newline) covering the fixture's sample text. */
const MERGES: [string, string][] = [
  ['Ġ', 't'], ['h', 'e'], ['Ġt', 'he'], ['a', 't'], ['Ġ', 'c'], ['Ġc', 'at'], ['Ġ', 's'], ['Ġs', 'at'],
  ['o', 'n'], ['Ġ', 'on'], ['Ġ', 'm'], ['Ġm', 'at'], ['t', 'he'], ['i', 'n'], ['Ġ', 'a'], ['e', 'r'],
  ['u', 's'], ['us', 'er'], ['Ċ', 'Ċ'], ['i', 's'], ['Ġ', 'is'],
];
const SPECIALS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];

/** lm's mulberry32 (seededRandom) + Box-Muller: a tiny deterministic normal sampler. */
function normalSampler(seed: number): () => number {
  const uniform = seededRandom(seed);
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

export async function makeTinyQwen2(outDir: string): Promise<void> {
  const tokenizerJson = buildByteLevelBpeJson({ merges: MERGES, specials: SPECIALS, splitPattern: QWEN2_SPLIT_PATTERN });
  const vocab = (tokenizerJson.added_tokens as { id: number }[]).at(-1)!.id + 1;
  const eos = vocab - 3; // <|endoftext|>; <|im_end|> is vocab - 1
  const H = 32, L = 2, heads = 4, kvHeads = 2, hd = H / heads, I = 64;
  const config = {
    architectures: ['Qwen2ForCausalLM'],
    model_type: 'qwen2',
    vocab_size: vocab,
    hidden_size: H,
    intermediate_size: I,
    num_hidden_layers: L,
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    max_position_embeddings: 128,
    rms_norm_eps: 1e-6,
    rope_theta: 10000.0,
    hidden_act: 'silu',
    tie_word_embeddings: false,
    use_sliding_window: false,
    sliding_window: 128,
    max_window_layers: L,
    attention_dropout: 0.0,
    initializer_range: 0.02,
    bos_token_id: eos,
    eos_token_id: eos,
    torch_dtype: 'bfloat16',
    use_cache: true,
  };

  const randn = normalSampler(SEED);
  const tensors = new Map<string, RawTensor>();
  const add = (name: string, shape: number[], f: () => number): void => {
    const n = shape.reduce((a, b) => a * b, 1);
    tensors.set(name, { shape, data: Float32Array.from({ length: n }, f) });
  };
  // Large enough weights that logits spread over several units (a sharper numerical check than 0.02 init).
  const linear = (name: string, out: number, inp: number, bias: boolean): void => {
    add(`${name}.weight`, [out, inp], () => randn() / Math.sqrt(inp));
    if (bias) add(`${name}.bias`, [out], () => 0.1 * randn());
  };
  add('model.embed_tokens.weight', [vocab, H], () => 0.5 * randn());
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}`;
    add(`${p}.input_layernorm.weight`, [H], () => 1 + 0.1 * randn());
    linear(`${p}.self_attn.q_proj`, heads * hd, H, true);
    linear(`${p}.self_attn.k_proj`, kvHeads * hd, H, true);
    linear(`${p}.self_attn.v_proj`, kvHeads * hd, H, true);
    linear(`${p}.self_attn.o_proj`, H, heads * hd, false);
    add(`${p}.post_attention_layernorm.weight`, [H], () => 1 + 0.1 * randn());
    linear(`${p}.mlp.gate_proj`, I, H, false);
    linear(`${p}.mlp.up_proj`, I, H, false);
    linear(`${p}.mlp.down_proj`, H, I, false);
  }
  add('model.norm.weight', [H], () => 1 + 0.1 * randn());
  linear('lm_head', vocab, H, false);

  const tokenizerConfig = {
    tokenizer_class: 'Qwen2Tokenizer',
    bos_token: null,
    eos_token: '<|im_end|>',
    pad_token: '<|endoftext|>',
    unk_token: null,
    add_prefix_space: false,
    clean_up_tokenization_spaces: false,
    errors: 'replace',
    model_max_length: 128,
    split_special_tokens: false,
    chat_template: QWEN2_CHAT_TEMPLATE,
  };
  const json = (v: unknown): string => JSON.stringify(v, null, 2) + '\n';
  await writeSafetensors(join(outDir, 'model.safetensors'), tensors, { dtype: 'BF16', metadata: { format: 'pt' } });
  await writeFileAtomic(join(outDir, 'config.json'), json(config));
  await writeFileAtomic(join(outDir, 'tokenizer.json'), JSON.stringify(tokenizerJson) + '\n');
  await writeFileAtomic(join(outDir, 'tokenizer_config.json'), json(tokenizerConfig));
  await writeFileAtomic(join(outDir, 'generation_config.json'), json({ bos_token_id: eos, eos_token_id: [vocab - 1, eos], pad_token_id: eos }));
  console.log(`wrote ${outDir} (vocab ${vocab}, ${tensors.size} tensors)`);
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  await makeTinyQwen2(resolve(process.argv[2] ?? 'libs/lm/fixtures/tiny-qwen2'));
}
