/** A message for chat templates. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | string;
  content: string;
}

/** What every tokenizer in emrl offers (byte-level built-in, or any Hugging Face tokenizer.json). */
export interface Tokenizer {
  readonly vocabSize: number;
  readonly padTokenId: number;
  readonly eosTokenId: number;
  readonly bosTokenId: number | null;
  encode(text: string): number[];
  /** Decodes ids; special tokens (pad/eos/bos) are dropped unless keepSpecial. */
  decode(ids: readonly number[], opts?: { keepSpecial?: boolean }): string;
  /** Id of an exact token string (e.g. "$" or "<|endoftext|>"), or undefined. */
  tokenToId(token: string): number | undefined;
  /** Token ids that end generation for a given stop string (single-token stops only). */
  stopTokenIds(stops: readonly string[]): number[];
  /** Renders a chat template from tokenizer_config.json; throws a clear error when there is none. */
  applyChatTemplate?(messages: ChatMessage[], opts?: { addGenerationPrompt?: boolean }): string;
  /** Files that recreate this tokenizer with loadTokenizer (file name -> content), used by savePretrained. */
  toFiles?(): TokenizerFiles;
}

/** tokenizer.json, tokenizer_config.json (and anything else a tokenizer needs), keyed by file name. */
export type TokenizerFiles = Record<string, string>;
