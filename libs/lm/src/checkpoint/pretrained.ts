// Hugging Face model directories: config.json, model.safetensors (or shards + index), tokenizer.json,
// tokenizer_config.json, generation_config.json (optional).
import { existsSync, statSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { parseHfConfig, toHfConfig, type ModelConfig } from '../config';
import { CausalLM } from '../model/causal-lm';
import { loadTokenizer } from '../tokenizer/load-tokenizer';
import type { Tokenizer } from '../tokenizer/tokenizer';
import { fsyncDir, tempSiblingPath, writeFileAtomic } from './atomic';
import { readTextFile } from './read-text';
import { readSafetensorsDir, writeSafetensorsDir } from './sharded';
import type { SafetensorsWriteDtype } from './safetensors';
import { rawToTf, tfToRaw } from './tensors';

const LAYOUT =
  'a pretrained directory must contain config.json, model.safetensors (or model.safetensors.index.json with its shards), ' +
  'tokenizer.json and usually tokenizer_config.json; generation_config.json is optional';

const TokenIdsSchema = z.union([z.number().int(), z.array(z.number().int())]);

/** generation_config.json: the fields emrl reads; everything else is kept as is. */
export const GenerationConfigSchema = z
  .object({
    bos_token_id: TokenIdsSchema.nullable().optional(),
    eos_token_id: TokenIdsSchema.nullable().optional(),
    pad_token_id: TokenIdsSchema.nullable().optional(),
    do_sample: z.boolean().optional(),
    temperature: z.number().optional(),
    top_k: z.number().int().optional(),
    top_p: z.number().optional(),
    max_new_tokens: z.number().int().optional(),
  })
  .loose();
export type GenerationConfig = z.infer<typeof GenerationConfigSchema>;

export interface Pretrained {
  model: CausalLM;
  tokenizer: Tokenizer;
  config: ModelConfig;
  /** generation_config.json, or null when the directory has none. */
  generationConfig: GenerationConfig | null;
}

async function readJsonFile(path: string, what: string): Promise<unknown> {
  if (!existsSync(path)) throw new Error(`${path}: missing ${what}; ${LAYOUT}`);
  const text = await readTextFile(path, what);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: not valid JSON (${(err as Error).message})`);
  }
}

/**
 * Loads a Hugging Face model directory (gpt2 / llama / qwen2, F32/F16/BF16 safetensors).
 * Needs an initialized tfjs backend (initBackend()).
 */
export async function loadPretrained(dir: string): Promise<Pretrained> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`${dir}: not a directory; ${LAYOUT}`);
  const configPath = join(dir, 'config.json');
  const config = parseHfConfig(await readJsonFile(configPath, 'model config'), configPath);
  if (!existsSync(join(dir, 'tokenizer.json'))) throw new Error(`${join(dir, 'tokenizer.json')}: missing tokenizer; ${LAYOUT}`);
  const tokenizer = await loadTokenizer(dir);
  if (tokenizer.vocabSize > config.vocabSize) {
    throw new Error(
      `${dir}: tokenizer.json has ${tokenizer.vocabSize} tokens but config.json vocab_size is ${config.vocabSize}; ` +
        'the model cannot embed every token id (use the tokenizer that belongs to these weights)',
    );
  }
  const genPath = join(dir, 'generation_config.json');
  let generationConfig: GenerationConfig | null = null;
  if (existsSync(genPath)) {
    const parsed = GenerationConfigSchema.safeParse(await readJsonFile(genPath, 'generation config'));
    if (!parsed.success) throw new Error(`${genPath}: invalid generation config: ${z.prettifyError(parsed.error)}`);
    generationConfig = parsed.data;
  }
  const { tensors: raw } = await readSafetensorsDir(dir);
  const tensors = rawToTf(raw);
  raw.clear();
  let model: CausalLM;
  try {
    model = CausalLM.fromHfTensors(config, tensors);
  } catch (err) {
    throw new Error(`${dir}: weights do not match config.json: ${(err as Error).message}`);
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
  return { model, tokenizer, config, generationConfig };
}

export interface SavePretrainedOptions {
  /** Float storage dtype (default F32; BF16 halves the size, rounding to nearest even). */
  dtype?: SafetensorsWriteDtype;
  /** Shard weights above this many bytes per file (default: one file). */
  maxShardBytes?: number;
  /** generation_config.json content (default: bos/eos/pad ids from the config and tokenizer). */
  generationConfig?: GenerationConfig;
  /** More files to write into the directory (e.g. a README.md or training args), name -> content. */
  extraFiles?: Record<string, string | Uint8Array>;
}

async function writeAll(dir: string, model: CausalLM, tokenizer: Tokenizer, opts: SavePretrainedOptions): Promise<void> {
  const dtype = opts.dtype ?? 'F32';
  const tensors = model.toHfTensors();
  let raw;
  try {
    raw = await tfToRaw(tensors);
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
  // Weights first and config.json last, so a reader of a directory being overwritten never finds a
  // new config next to missing weights.
  await writeSafetensorsDir(dir, raw, { dtype, maxShardBytes: opts.maxShardBytes, metadata: { format: 'pt' } });
  for (const [name, content] of Object.entries(tokenizer.toFiles!())) await writeFileAtomic(join(dir, name), content);
  const gen = opts.generationConfig ?? {
    bos_token_id: model.config.bosTokenId ?? tokenizer.bosTokenId,
    eos_token_id: tokenizer.eosTokenId,
    pad_token_id: tokenizer.padTokenId,
  };
  await writeFileAtomic(join(dir, 'generation_config.json'), JSON.stringify(gen, null, 2) + '\n');
  for (const [name, content] of Object.entries(opts.extraFiles ?? {})) await writeFileAtomic(join(dir, name), content);
  const hf = { ...toHfConfig(model.config), torch_dtype: dtype === 'BF16' ? 'bfloat16' : 'float32' };
  await writeFileAtomic(join(dir, 'config.json'), JSON.stringify(hf, null, 2) + '\n');
}

/**
 * Writes model + tokenizer as a Hugging Face directory. A new (or empty) directory appears at once,
 * complete (written as a temp sibling, then renamed); an existing one is updated file by file, each
 * file atomically, config.json last.
 */
export async function savePretrained(dir: string, model: CausalLM, tokenizer: Tokenizer, opts: SavePretrainedOptions = {}): Promise<void> {
  if (!tokenizer.toFiles) throw new Error('savePretrained: this tokenizer cannot serialize itself (it has no toFiles()); save a ByteTokenizer or a tokenizer from loadTokenizer');
  const target = resolve(dir);
  const fresh = !existsSync(target) || (await readdir(target)).length === 0;
  if (!fresh) {
    await writeAll(target, model, tokenizer, opts);
    return;
  }
  await mkdir(dirname(target), { recursive: true });
  const tmp = tempSiblingPath(target);
  await mkdir(tmp);
  try {
    await writeAll(tmp, model, tokenizer, opts);
    if (existsSync(target)) await rm(target, { recursive: true }); // empty directory
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  await fsyncDir(dirname(target));
}

