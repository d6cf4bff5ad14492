import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readTextFile } from '../checkpoint/read-text';
import { matchPlainByteLevel } from './bpe-json';
import { ByteTokenizer } from './byte-tokenizer';
import { HfTokenizer } from './hf-tokenizer';
import type { Tokenizer, TokenizerFiles } from './tokenizer';
import { parseTokenizerConfig, pickChatTemplate, tokenContent, type TokenizerConfig } from './tokenizer-config';

const REQUIRED = 'a tokenizer directory must contain tokenizer.json (and usually tokenizer_config.json)';

function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: not valid JSON (${(err as Error).message})`);
  }
}

export async function loadTokenizer(dir: string): Promise<Tokenizer> {
  const jsonPath = join(dir, 'tokenizer.json');
  if (!existsSync(jsonPath)) throw new Error(`${jsonPath}: missing; ${REQUIRED}`);
  const files: TokenizerFiles = { 'tokenizer.json': await readTextFile(jsonPath, 'tokenizer') };
  for (const name of ['tokenizer_config.json', 'chat_template.jinja']) {
    const path = join(dir, name);
    if (existsSync(path)) files[name] = name.endsWith('.json') ? await readTextFile(path, 'tokenizer') : await readFile(path, 'utf8');
  }
  return tokenizerFromFiles(files, dir);
}

/**
 * A tokenizer from the files of a tokenizer directory held in memory (file name -> content, as
 * Tokenizer.toFiles() gives them): tokenizer.json, optional tokenizer_config.json and
 * chat_template.jinja. `dir` names the source in error messages. Worker threads rebuild the
 * policy's tokenizer with it.
 */
export function tokenizerFromFiles(files: TokenizerFiles, dir: string): Tokenizer {
  const jsonPath = join(dir, 'tokenizer.json');
  const jsonText = files['tokenizer.json'];
  if (jsonText === undefined) throw new Error(`${jsonPath}: missing; ${REQUIRED}`);
  const json = parseJson(jsonText, jsonPath);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`${jsonPath}: must be a JSON object`);
  const configPath = join(dir, 'tokenizer_config.json');
  const configText = files['tokenizer_config.json'];
  const config: TokenizerConfig = configText !== undefined ? parseTokenizerConfig(parseJson(configText, configPath), configPath) : {};
  const chatTemplate = files['chat_template.jinja'] ?? pickChatTemplate(config);

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
