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
  /**
   * The tokenizer's own end tokens: EOS plus the end-of-text / end-of-turn special tokens it has
   * (END_TOKEN_NAMES: `<|im_end|>`, `<|endoftext|>`, `<|eot_id|>`, ...). Generation stops on any of them.
   */
  endTokenIds?(): number[];
  /**
   * True when Hugging Face's `tokenizer(text)` starts a sequence with BOS (Llama 3, Gemma, DeepSeek:
   * the post-processor or add_bos_token). `encode` never adds it; prompt builders prepend it to
   * plain-text prompts (chat templates write it themselves).
   */
  readonly addsBosToken?: boolean;
  /** True when applyChatTemplate can render (tokenizer_config.json or chat_template.jinja has a template). */
  readonly hasChatTemplate?: boolean;
  /** Renders a chat template from tokenizer_config.json; throws a clear error when there is none. */
  applyChatTemplate?(messages: ChatMessage[], opts?: { addGenerationPrompt?: boolean }): string;
  /** Files that recreate this tokenizer with loadTokenizer (file name -> content), used by savePretrained. */
  toFiles?(): TokenizerFiles;
}

/** tokenizer.json, tokenizer_config.json (and anything else a tokenizer needs), keyed by file name. */
export type TokenizerFiles = Record<string, string>;

/**
 * Special tokens that end a completion in the families emrl loads (as their generation_config.json
 * eos lists do): Qwen `<|im_end|>` / `<|endoftext|>`, Llama 3 `<|eot_id|>` / `<|eom_id|>` /
 * `<|end_of_text|>`, Gemma `<end_of_turn>` / `<eos>`, DeepSeek V3 `<｜end▁of▁sentence｜>`, Llama 2 `</s>`.
 * Only counted when the tokenizer has them as special tokens.
 */
export const END_TOKEN_NAMES: readonly string[] = [
  '<|im_end|>',
  '<|endoftext|>',
  '<|eot_id|>',
  '<|eom_id|>',
  '<|end_of_text|>',
  '<end_of_turn>',
  '<eos>',
  '<\uff5cend\u2581of\u2581sentence\uff5c>',
  '</s>',
];
