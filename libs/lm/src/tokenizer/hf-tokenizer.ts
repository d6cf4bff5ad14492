import { Tokenizer as HfTokenizerImpl } from '@huggingface/tokenizers';
import { ChatTemplate } from './chat-template';
import { END_TOKEN_NAMES, type ChatMessage, type Tokenizer, type TokenizerFiles } from './tokenizer';
import { pickChatTemplate, tokenContent, type TokenizerConfig } from './tokenizer-config';

/** End-of-sequence tokens tried, in order, when tokenizer_config.json names none. */
const EOS_FALLBACKS = ['<|endoftext|>', '</s>', '<|im_end|>', '<eos>'];

export interface HfTokenizerOptions {
  /** Where the files came from (error messages). */
  source?: string;
  /** Chat template overriding tokenizer_config.json (e.g. from chat_template.jinja). */
  chatTemplate?: string | null;
  /** Let the post-processor add BOS/EOS etc. on encode (HF's add_special_tokens). Default false. */
  addSpecialTokens?: boolean;
}

/** Any Hugging Face tokenizer.json, run by @huggingface/tokenizers. */
export class HfTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly padTokenId: number;
  readonly eosTokenId: number;
  readonly bosTokenId: number | null;
  readonly hasChatTemplate: boolean;
  readonly addsBosToken: boolean;
  private readonly impl: HfTokenizerImpl;
  private readonly template: ChatTemplate | null;
  private readonly addSpecialTokens: boolean;
  private readonly source: string;

  constructor(
    private readonly json: Record<string, unknown>,
    private readonly config: TokenizerConfig,
    opts: HfTokenizerOptions = {},
  ) {
    this.source = opts.source ?? '<memory>';
    this.impl = new HfTokenizerImpl(json, config);
    let max = -1;
    for (const id of this.impl.get_vocab(true).values()) max = Math.max(max, id);
    this.vocabSize = max + 1;

    const eos = tokenContent(config.eos_token) ?? EOS_FALLBACKS.find((t) => this.impl.token_to_id(t) !== undefined);
    if (eos === undefined) {
      throw new Error(`${this.source}: cannot find an end-of-sequence token; set "eos_token" in tokenizer_config.json`);
    }
    this.eosTokenId = this.requireId(eos, 'eos_token');
    const pad = tokenContent(config.pad_token);
    this.padTokenId = pad === null ? this.eosTokenId : this.requireId(pad, 'pad_token');
    const bos = tokenContent(config.bos_token);
    this.bosTokenId = bos === null ? null : this.requireId(bos, 'bos_token');

    const tpl = opts.chatTemplate !== undefined ? opts.chatTemplate : pickChatTemplate(config);
    this.template = tpl === null ? null : new ChatTemplate(tpl, `${this.source} (tokenizer_config.json or chat_template.jinja)`);
    this.hasChatTemplate = this.template !== null;
    this.addSpecialTokens = opts.addSpecialTokens ?? false;
    const withSpecials = this.impl.encode('a', { add_special_tokens: true }).ids;
    this.addsBosToken = this.bosTokenId !== null && withSpecials[0] === this.bosTokenId;
  }

  private requireId(token: string, field: string): number {
    const id = this.impl.token_to_id(token);
    if (id === undefined) throw new Error(`${this.source}: tokenizer_config.json ${field} "${token}" is not in the vocabulary of tokenizer.json`);
    return id;
  }

  encode(text: string): number[] {
    return this.impl.encode(text, { add_special_tokens: this.addSpecialTokens }).ids;
  }

  decode(ids: readonly number[], opts: { keepSpecial?: boolean } = {}): string {
    if (ids.length === 0) return ''; // @huggingface/tokenizers throws on an empty list
    return this.impl.decode([...ids], { skip_special_tokens: !opts.keepSpecial, clean_up_tokenization_spaces: false });
  }

  tokenToId(token: string): number | undefined {
    return this.impl.token_to_id(token);
  }

  stopTokenIds(stops: readonly string[]): number[] {
    const ids = new Set<number>();
    for (const s of stops) {
      const enc = this.encode(s);
      const id = enc.length === 1 ? enc[0] : this.tokenToId(s);
      if (id !== undefined) ids.add(id);
    }
    return [...ids];
  }

  endTokenIds(): number[] {
    const special = new Set<string>();
    for (const t of (this.json['added_tokens'] as { content?: unknown; special?: unknown }[] | undefined) ?? []) {
      if (t.special === true && typeof t.content === 'string') special.add(t.content);
    }
    const ids = new Set<number>([this.eosTokenId]);
    for (const name of END_TOKEN_NAMES) {
      const id = special.has(name) ? this.impl.token_to_id(name) : undefined;
      if (id !== undefined) ids.add(id);
    }
    return [...ids];
  }

  applyChatTemplate(messages: ChatMessage[], opts: { addGenerationPrompt?: boolean } = {}): string {
    if (!this.template) throw new Error(`${this.source}: no chat template; add "chat_template" to tokenizer_config.json or a chat_template.jinja file`);
    return this.template.render(messages, {
      addGenerationPrompt: opts.addGenerationPrompt,
      bosToken: tokenContent(this.config.bos_token),
      eosToken: tokenContent(this.config.eos_token),
      padToken: tokenContent(this.config.pad_token),
      unkToken: tokenContent(this.config.unk_token),
    });
  }

  toFiles(): TokenizerFiles {
    const config = { ...this.config, chat_template: this.template?.source ?? null };
    return {
      'tokenizer.json': JSON.stringify(this.json) + '\n',
      'tokenizer_config.json': JSON.stringify(config, null, 2) + '\n',
    };
  }
}
