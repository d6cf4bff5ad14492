import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readTextFile } from '../checkpoint/read-text';
import { matchPlainByteLevel } from './bpe-json';
import { ByteTokenizer } from './byte-tokenizer';
import { HfTokenizer } from './hf-tokenizer';
import type { Tokenizer } from './tokenizer';
import { parseTokenizerConfig, pickChatTemplate, tokenContent, type TokenizerConfig } from './tokenizer-config';

const REQUIRED = 'a tokenizer directory must contain tokenizer.json (and usually tokenizer_config.json)';

async function readJson(path: string): Promise<unknown> {
  const text = await readTextFile(path, 'tokenizer');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: not valid JSON (${(err as Error).message})`);
  }
}

/**
 * Loads the tokenizer of a Hugging Face model directory: tokenizer.json, plus tokenizer_config.json
 * (pad/eos/bos tokens, chat_template) and chat_template.jinja when present. Our byte-level files load
 * as a ByteTokenizer; anything else runs through @huggingface/tokenizers.
 */
export async function loadTokenizer(dir: string): Promise<Tokenizer> {
  const jsonPath = join(dir, 'tokenizer.json');
  if (!existsSync(jsonPath)) throw new Error(`${jsonPath}: missing; ${REQUIRED}`);
  const json = await readJson(jsonPath);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`${jsonPath}: must be a JSON object`);
  const configPath = join(dir, 'tokenizer_config.json');
  const config: TokenizerConfig = existsSync(configPath) ? parseTokenizerConfig(await readJson(configPath), configPath) : {};
  const jinjaPath = join(dir, 'chat_template.jinja');
  const chatTemplate = existsSync(jinjaPath) ? await readFile(jinjaPath, 'utf8') : pickChatTemplate(config);

  const specials = matchPlainByteLevel(json);
  if (specials !== null) {
    try {
      return new ByteTokenizer({
        specials,
        eosToken: tokenContent(config.eos_token) ?? undefined,
        padToken: tokenContent(config.pad_token) ?? undefined,
        bosToken: tokenContent(config.bos_token),
        chatTemplate,
      });
    } catch (err) {
      throw new Error(`${configPath}: ${(err as Error).message}`);
    }
  }
  try {
    return new HfTokenizer(json as Record<string, unknown>, config, { source: dir, chatTemplate });
  } catch (err) {
    throw new Error(`${jsonPath}: cannot build the tokenizer (${(err as Error).message})`);
  }
}
