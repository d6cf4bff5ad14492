import { buildByteLevelBpeJson } from './bpe-json';
import { BYTE_TO_UNICODE, UNICODE_TO_BYTE } from './bytes-to-unicode';
import { ChatTemplate } from './chat-template';
import { END_TOKEN_NAMES, type ChatMessage, type Tokenizer, type TokenizerFiles } from './tokenizer';

/** A plain "role: content" chat format for byte-level models that have no template of their own. */
export const BYTE_CHAT_TEMPLATE =
  "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}" +
  "{% if add_generation_prompt %}assistant: {% endif %}";

export interface ByteTokenizerOptions {
  /** Special tokens, given ids 256, 257, ... in this order. Default ['<|pad|>', '<|endoftext|>']. */
  specials?: readonly string[];
  padToken?: string;
  eosToken?: string;
  bosToken?: string | null;
  /** Jinja chat template; null = none (applyChatTemplate throws). Default BYTE_CHAT_TEMPLATE. */
  chatTemplate?: string | null;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Byte-level tokenizer: ids 0..255 are UTF-8 bytes, then the special tokens (by default
 * 256 '<|pad|>', 257 '<|endoftext|>'; vocab 258). Special-token strings in the input text
 * encode to their ids, as in Hugging Face tokenizers.
 */
export class ByteTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly padTokenId: number;
  readonly eosTokenId: number;
  readonly bosTokenId: number | null;
  readonly specials: readonly string[];
  readonly hasChatTemplate: boolean;
  private readonly specialIds: Map<string, number>;
  private readonly splitter: RegExp | null;
  private readonly template: ChatTemplate | null;

  constructor(opts: ByteTokenizerOptions = {}) {
    this.specials = opts.specials ?? ['<|pad|>', '<|endoftext|>'];
    this.specialIds = new Map(this.specials.map((s, i) => [s, 256 + i]));
    if (this.specialIds.size !== this.specials.length) throw new Error(`ByteTokenizer: duplicate special tokens in [${this.specials.join(', ')}]`);
    this.vocabSize = 256 + this.specials.length;
    const eos = opts.eosToken ?? (this.specialIds.has('<|endoftext|>') ? '<|endoftext|>' : this.specials[this.specials.length - 1]);
    const pad = opts.padToken ?? (this.specialIds.has('<|pad|>') ? '<|pad|>' : eos);
    this.eosTokenId = this.requireSpecial(eos, 'eosToken');
    this.padTokenId = this.requireSpecial(pad, 'padToken');
    this.bosTokenId = opts.bosToken ? this.requireSpecial(opts.bosToken, 'bosToken') : null;
    // Longest first so a special that is a prefix of another never wins.
    const sorted = [...this.specials].sort((a, b) => b.length - a.length).map(escapeRegex);
    this.splitter = sorted.length > 0 ? new RegExp(`(${sorted.join('|')})`) : null;
    const tpl = opts.chatTemplate === undefined ? BYTE_CHAT_TEMPLATE : opts.chatTemplate;
    this.template = tpl === null ? null : new ChatTemplate(tpl, 'ByteTokenizer chat template');
    this.hasChatTemplate = this.template !== null;
  }

  private requireSpecial(token: string | undefined, field: string): number {
    const id = token === undefined ? undefined : this.specialIds.get(token);
    if (id === undefined) throw new Error(`ByteTokenizer: ${field} "${token}" is not one of the special tokens [${this.specials.join(', ')}]`);
    return id;
  }

  private get bosToken(): string | null {
    return this.bosTokenId === null ? null : this.specials[this.bosTokenId - 256]!;
  }

  encode(text: string): number[] {
    const out: number[] = [];
    const enc = new TextEncoder();
    const parts = this.splitter ? text.split(this.splitter) : [text];
    for (const part of parts) {
      const special = this.specialIds.get(part);
      if (special !== undefined) out.push(special);
      else for (const b of enc.encode(part)) out.push(b);
    }
    return out;
  }

  decode(ids: readonly number[], opts: { keepSpecial?: boolean } = {}): string {
    const dec = new TextDecoder('utf-8');
    let text = '';
    let bytes: number[] = [];
    const flush = () => {
      if (bytes.length > 0) text += dec.decode(new Uint8Array(bytes));
      bytes = [];
    };
    for (const id of ids) {
      if (id >= 0 && id < 256) bytes.push(id);
      else if (id >= 256 && id < this.vocabSize) {
        flush();
        if (opts.keepSpecial) text += this.specials[id - 256];
      }
      // Ids beyond the vocabulary (a model's padded embedding rows) decode to nothing, as in HF.
    }
    flush();
    return text;
  }

  tokenToId(token: string): number | undefined {
    const special = this.specialIds.get(token);
    if (special !== undefined) return special;
    const bytes = new TextEncoder().encode(token);
    if (bytes.length === 1) return bytes[0];
    return UNICODE_TO_BYTE.get(token); // byte-level vocabulary spelling, e.g. "Ġ" for the space byte
  }

  stopTokenIds(stops: readonly string[]): number[] {
    const ids = new Set<number>();
    for (const s of stops) {
      const enc = this.encode(s);
      if (enc.length === 1) ids.add(enc[0]!);
    }
    return [...ids];
  }

  endTokenIds(): number[] {
    const ids = new Set<number>([this.eosTokenId]);
    for (const name of END_TOKEN_NAMES) {
      const id = this.specialIds.get(name);
      if (id !== undefined) ids.add(id);
    }
    return [...ids];
  }

  applyChatTemplate(messages: ChatMessage[], opts: { addGenerationPrompt?: boolean } = {}): string {
    if (!this.template) throw new Error('ByteTokenizer: no chat template; pass chatTemplate or set chat_template in tokenizer_config.json');
    return this.template.render(messages, {
      addGenerationPrompt: opts.addGenerationPrompt,
      bosToken: this.bosToken,
      eosToken: this.specials[this.eosTokenId - 256],
    });
  }

  /** tokenizer.json (valid Hugging Face byte-level BPE with no merges) + tokenizer_config.json. */
  toFiles(): TokenizerFiles {
    const json = buildByteLevelBpeJson({ specials: this.specials });
    const config = {
      tokenizer_class: 'PreTrainedTokenizerFast',
      bos_token: this.bosToken,
      eos_token: this.specials[this.eosTokenId - 256],
      pad_token: this.specials[this.padTokenId - 256],
      unk_token: null,
      add_bos_token: false,
      clean_up_tokenization_spaces: false,
      model_max_length: 1_000_000,
      chat_template: this.template?.source ?? null,
    };
    return {
      'tokenizer.json': JSON.stringify(json, null, 2) + '\n',
      'tokenizer_config.json': JSON.stringify(config, null, 2) + '\n',
    };
  }

  /** The byte-level spelling of each id (for debugging and vocab dumps). */
  idToToken(id: number): string | undefined {
    if (id >= 0 && id < 256) return BYTE_TO_UNICODE[id];
    return this.specials[id - 256];
  }
}
