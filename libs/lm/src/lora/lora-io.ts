// PEFT adapter directories: adapter_config.json + adapter_model.safetensors (PEFT tensor names).
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fsyncDir, tempSiblingPath, writeFileAtomic } from '../checkpoint/atomic';
import { savePretrained, type SavePretrainedOptions } from '../checkpoint/pretrained';
import { readSafetensors, writeSafetensors } from '../checkpoint/safetensors';
import { rawToTf, tfToRaw } from '../checkpoint/tensors';
import type { CausalLM } from '../model/causal-lm';
import type { Tokenizer } from '../tokenizer/tokenizer';
import { LoraAdapter, loraModules } from './lora-adapter';
import { parsePeftAdapterConfig, toPeftAdapterConfig } from './peft-config';

export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';

/**
 * Writes the model's attached LoRA adapter as a PEFT directory that Python's
 * `PeftModel.from_pretrained(base, dir)` loads. A new directory appears complete (temp sibling,
 * then rename); files in an existing one are replaced atomically, the config last.
 */
export async function saveLoraAdapter(dir: string, model: CausalLM, opts: { baseModelNameOrPath?: string | null } = {}): Promise<void> {
  const lora = model.getLora();
  if (!lora) throw new Error('saveLoraAdapter: the model has no LoRA adapter attached (model.attachLora(cfg) or loadLoraAdapter(dir, model))');
  const tensors = lora.toPeftTensors();
  let raw;
  try {
    raw = await tfToRaw(tensors);
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
  const config = toPeftAdapterConfig(lora.config, model.config, opts.baseModelNameOrPath ?? model.source?.dir ?? null);
  const write = async (d: string): Promise<void> => {
    await writeSafetensors(join(d, ADAPTER_WEIGHTS_FILE), raw, { dtype: 'F32', metadata: { format: 'pt' } });
    await writeFileAtomic(join(d, ADAPTER_CONFIG_FILE), JSON.stringify(config, null, 2) + '\n');
  };
  const target = resolve(dir);
  if (existsSync(target) && (await readdir(target)).length > 0) return write(target);
  await mkdir(dirname(target), { recursive: true });
  const tmp = tempSiblingPath(target);
  await mkdir(tmp);
  try {
    await write(tmp);
    if (existsSync(target)) await rm(target, { recursive: true });
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  await fsyncDir(dirname(target));
}

/**
 * Loads a PEFT LoRA directory and attaches it to `model` (which freezes the base weights). Errors
 * name the file and the field or tensor: a missing file, an unsupported PEFT option, or an adapter
 * whose tensors do not fit this model (made for another base model).
 */
export async function loadLoraAdapter(dir: string, model: CausalLM): Promise<LoraAdapter> {
  const configPath = join(dir, ADAPTER_CONFIG_FILE);
  const weightsPath = join(dir, ADAPTER_WEIGHTS_FILE);
  for (const p of [configPath, weightsPath]) {
    if (!existsSync(p)) throw new Error(`${p}: missing; a PEFT LoRA directory holds ${ADAPTER_CONFIG_FILE} and ${ADAPTER_WEIGHTS_FILE}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(await readFile(configPath, 'utf8'));
  } catch (err) {
    throw new Error(`${configPath}: not valid JSON (${(err as Error).message})`);
  }
  const { lora } = parsePeftAdapterConfig(json, configPath);
  try {
    loraModules(model.config, lora.targetModules);
  } catch (err) {
    throw new Error(`${configPath}: field "target_modules": ${(err as Error).message.replace(/^lora: /, '')}`);
  }
  const { tensors: raw } = await readSafetensors(weightsPath);
  const tensors = rawToTf(raw);
  try {
    return model.setLora(LoraAdapter.fromPeftTensors(model.config, lora, tensors, weightsPath));
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

/**
 * Writes base + LoRA as a normal Hugging Face directory (W + s A B in every adapted projection),
 * like PEFT's merge_and_unload + save_pretrained. Merges into a copy: `model` keeps its adapter.
 */
export async function saveMergedPretrained(dir: string, model: CausalLM, tokenizer: Tokenizer, opts: SavePretrainedOptions = {}): Promise<void> {
  if (!model.getLora()) throw new Error('saveMergedPretrained: the model has no LoRA adapter attached; use savePretrained');
  const merged = model.clone();
  try {
    merged.mergeLora();
    await savePretrained(dir, merged, tokenizer, opts);
  } finally {
    merged.dispose();
  }
}
