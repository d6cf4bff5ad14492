// Hugging Face model directories: config.json, model.safetensors (or shards + index), tokenizer.json,
// tokenizer_config.json, generation_config.json (optional).
import { existsSync, statSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { ModelConfig } from '../config';
import { parseHfConfig, toHfConfig } from '../hf-config/index';
import { CausalLM } from '../model/causal-lm';
import { loadTokenizer } from '../tokenizer/load-tokenizer';
import type { Tokenizer } from '../tokenizer/tokenizer';
import { eosTokenIdsOf, parseGenerationConfig, unionStopTokenIds, type GenerationConfig } from '../generation/generation-config';
import { fsyncDir, tempSiblingPath, writeFileAtomic } from './atomic';
import { representableIn } from './dtype';
import { readTextFile } from './read-text';
import { readSafetensorsDir, writeSafetensorsDir } from './sharded';
import type { RawTensor, SafetensorsWriteDtype } from './safetensors';
import { rawToTf, tfToRaw } from './tensors';

const LAYOUT =
  'a pretrained directory must contain config.json, model.safetensors (or model.safetensors.index.json with its shards), ' +
  'tokenizer.json and usually tokenizer_config.json; generation_config.json is optional';

export interface Pretrained {
  model: CausalLM;
  tokenizer: Tokenizer;
  config: ModelConfig;
  /** generation_config.json, or null when the directory has none. */
  generationConfig: GenerationConfig | null;
  /**
   * Token ids that end generation: generation_config.json eos ids, config.json eos ids and the
   * tokenizer's eos (also set as model.stopTokenIds, generate()'s default).
   */
  stopTokenIds: number[];
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
 * Loads a Hugging Face model directory (gpt2 / llama / qwen2 / qwen3, F32/F16/BF16 safetensors).
 * Sets model.stopTokenIds (the union of eos ids) and model.source (dtype and generation config,
 * which savePretrained keeps; the dtype only while it is lossless).
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
  const generationConfig = existsSync(genPath) ? parseGenerationConfig(await readJsonFile(genPath, 'generation config'), genPath) : null;
  const { tensors: raw } = await readSafetensorsDir(dir);
  const dtype = sourceFloatDtype(raw);
  const tensors = rawToTf(raw);
  raw.clear();
  let model: CausalLM;
  try {
    model = CausalLM.fromHfTensors(config, tensors, { consume: true });
  } catch (err) {
    throw new Error(
      `${dir}: weights do not match config.json: ${(err as Error).message}; ` +
        'the safetensors files and config.json must come from the same model (restore the config.json shipped with these weights)',
    );
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
  const stopTokenIds = unionStopTokenIds(eosTokenIdsOf(generationConfig), [config.eosTokenId, ...config.eosTokenIds], [tokenizer.eosTokenId]);
  model.stopTokenIds = stopTokenIds;
  model.source = { dir, dtype, generationConfig };
  return { model, tokenizer, config, generationConfig, stopTokenIds };
}

/** The float dtype the weights were stored in (F32 when they mix dtypes or are F64). */
function sourceFloatDtype(raw: ReadonlyMap<string, RawTensor>): SafetensorsWriteDtype {
  const seen = new Set<string>();
  for (const t of raw.values()) if (t.sourceDtype && !t.sourceDtype.startsWith('I')) seen.add(t.sourceDtype);
  const only = seen.size === 1 ? [...seen][0] : 'F32';
  return only === 'BF16' || only === 'F16' ? only : 'F32';
}

export interface SavePretrainedOptions {
  /**
   * Float storage dtype. Default: the dtype the model was loaded from (model.source.dtype: BF16 or
   * F16) when it stores every weight exactly, i.e. an unchanged loaded model; F32 otherwise (a trained
   * model, one made in memory). Pass BF16/F16 to round on purpose (to nearest even).
   */
  dtype?: SafetensorsWriteDtype;
  /** Shard weights above this many bytes per file (default: one file). */
  maxShardBytes?: number;
  /**
   * generation_config.json content. Default: the file the model was loaded with, unchanged
   * (model.source.generationConfig); else bos, every stop id as eos_token_id, and pad.
   */
  generationConfig?: GenerationConfig;
  /** More files to write into the directory (e.g. a README.md or training args), name -> content. */
  extraFiles?: Record<string, string | Uint8Array>;
}

/**
 * The source dtype when it stores every weight exactly (a loaded model that was not changed, or was
 * changed by bf16-exact amounts), else F32: training updates are never rounded away silently.
 */
function defaultDtype(model: CausalLM, raw: ReadonlyMap<string, RawTensor>): SafetensorsWriteDtype {
  const source = model.source?.dtype ?? 'F32';
  if (source === 'F32') return 'F32';
  for (const t of raw.values()) if (t.data instanceof Float32Array && !representableIn(t.data, source)) return 'F32';
  return source;
}

const TORCH_DTYPES: Record<SafetensorsWriteDtype, string> = { F32: 'float32', BF16: 'bfloat16', F16: 'float16' };

async function writeAll(dir: string, model: CausalLM, tokenizer: Tokenizer, opts: SavePretrainedOptions): Promise<void> {
  // One weight at a time: a real-size model has no heap for a second, transposed copy of itself.
  const raw = new Map<string, RawTensor>();
  for (const [name, t] of model.eachHfTensor()) {
    try {
      for (const [n, r] of await tfToRaw(new Map([[name, t]]))) raw.set(n, r);
    } finally {
      t.dispose();
    }
  }
  const dtype = opts.dtype ?? defaultDtype(model, raw);
  // Weights first and config.json last, so a reader of a directory being overwritten never finds a
  // new config next to missing weights.
  await writeSafetensorsDir(dir, raw, { dtype, maxShardBytes: opts.maxShardBytes, metadata: { format: 'pt' } });
  for (const [name, content] of Object.entries(tokenizer.toFiles!())) await writeFileAtomic(join(dir, name), content);
  const stops = unionStopTokenIds(model.stopTokenIds, [tokenizer.eosTokenId]);
  const gen = opts.generationConfig ??
    model.source?.generationConfig ?? {
      bos_token_id: model.config.bosTokenId ?? tokenizer.bosTokenId,
      eos_token_id: stops.length === 1 ? stops[0] : stops,
      pad_token_id: tokenizer.padTokenId,
    };
  await writeFileAtomic(join(dir, 'generation_config.json'), JSON.stringify(gen, null, 2) + '\n');
  for (const [name, content] of Object.entries(opts.extraFiles ?? {})) await writeFileAtomic(join(dir, name), content);
  const hf = { ...toHfConfig(model.config), torch_dtype: TORCH_DTYPES[dtype] };
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

