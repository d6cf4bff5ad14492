import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HfTokenizer } from './hf-tokenizer';
import { loadTokenizer } from './load-tokenizer';
import type { Tokenizer } from './tokenizer';

// Written by tools/make-tiny-qwen2.ts: byte-level BPE, 21 merges, Qwen2 split pattern and chat template.
const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/tiny-qwen2');

let tmp: string;
let tok: Tokenizer;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'emrl-loadtok-'));
  tok = await loadTokenizer(FIXTURE);
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

// Vocabulary of the fixture: 0..255 bytes, then one id per merge in order, then the specials.
const ID = { Ġt: 256, he: 257, Ġthe: 258, at: 259, Ġc: 260, Ġcat: 261, Ġsat: 263, Ġon: 265, Ġmat: 267, the: 268, user: 273, ĊĊ: 274, is: 275, Ġis: 276 };
const EOT = 277;
const IM_START = 278;
const IM_END = 279;

describe('a small byte-level BPE tokenizer.json (tiny-qwen2 fixture) via @huggingface/tokenizers', () => {
  it('loads as HfTokenizer with eos/pad from tokenizer_config.json', () => {
    expect(tok).toBeInstanceOf(HfTokenizer);
    expect([tok.vocabSize, tok.eosTokenId, tok.padTokenId, tok.bosTokenId]).toEqual([280, IM_END, EOT, null]);
  });

  it('applies merges by rank (hand-derived ids) and decodes back', () => {
    const cases: [string, number[]][] = [
      ['the cat sat on the mat', [ID.the, ID.Ġcat, ID.Ġsat, ID.Ġon, ID.Ġthe, ID.Ġmat]],
      // "this": (i,s) is the only mergeable pair; " is" -> Ġ,is -> Ġis; a space before a digit stays alone; digits split.
      ['this is 42!', [116, 104, ID.is, ID.Ġis, 32, 52, 50, 33]],
      ['a\n\nb', [97, ID.ĊĊ, 98]],
      ['the théé', [ID.the, ID.Ġt, 104, 0xc3, 0xa9, 0xc3, 0xa9]],
    ];
    for (const [text, ids] of cases) {
      expect(tok.encode(text)).toEqual(ids);
      expect(tok.decode(ids)).toBe(text);
    }
  });

  it('handles special tokens and stop strings', () => {
    const ids = tok.encode('<|im_start|>user\nthe<|im_end|>');
    expect(ids).toEqual([IM_START, ID.user, 10, ID.the, IM_END]);
    expect(tok.decode(ids)).toBe('user\nthe');
    expect(tok.decode(ids, { keepSpecial: true })).toBe('<|im_start|>user\nthe<|im_end|>');
    expect(tok.tokenToId('Ġcat')).toBe(ID.Ġcat);
    expect(tok.decode([])).toBe('');
    expect(tok.stopTokenIds(['$', '<|im_end|>', '\n\n', 'cat sat'])).toEqual([36, IM_END, ID.ĊĊ]);
  });

  it('renders the Qwen2 chat template', () => {
    const msgs = [{ role: 'user', content: 'What is 2+2?' }];
    expect(tok.applyChatTemplate!(msgs, { addGenerationPrompt: true })).toBe(
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' +
        '<|im_start|>user\nWhat is 2+2?<|im_end|>\n' +
        '<|im_start|>assistant\n',
    );
    const withSystem = [{ role: 'system', content: 'Be brief.' }, ...msgs, { role: 'assistant', content: '4' }];
    expect(tok.applyChatTemplate!(withSystem)).toBe(
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n',
    );
  });

  it('serializes itself (toFiles) to files that load to the same tokenizer', async () => {
    const dir = join(tmp, 'resaved');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(dir);
    for (const [name, content] of Object.entries(tok.toFiles!())) await writeFile(join(dir, name), content);
    const back = await loadTokenizer(dir);
    const text = '<|im_start|>user\nthis is the cat 42<|im_end|>';
    expect(back.encode(text)).toEqual(tok.encode(text));
    expect(back.applyChatTemplate!([{ role: 'user', content: 'x' }])).toBe(tok.applyChatTemplate!([{ role: 'user', content: 'x' }]));
  });

  it('prefers chat_template.jinja over tokenizer_config.json', async () => {
    const dir = join(tmp, 'jinja');
    await cp(FIXTURE, dir, { recursive: true });
    await writeFile(join(dir, 'chat_template.jinja'), '{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}');
    const t = await loadTokenizer(dir);
    expect(t.applyChatTemplate!([{ role: 'user', content: 'hi' }])).toBe('[user]hi');
  });

  it('reports missing or inconsistent files by name', async () => {
    await expect(loadTokenizer(join(tmp, 'empty'))).rejects.toThrow(/tokenizer\.json: missing; a tokenizer directory must contain tokenizer\.json/);
    const dir = join(tmp, 'bad-eos');
    await cp(FIXTURE, dir, { recursive: true });
    const cfg = JSON.parse(await readFile(join(dir, 'tokenizer_config.json'), 'utf8'));
    await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...cfg, eos_token: '</s>' }));
    await expect(loadTokenizer(dir)).rejects.toThrow(/eos_token "<\/s>" is not in the vocabulary/);
    await writeFile(join(dir, 'tokenizer_config.json'), '{ nope');
    await expect(loadTokenizer(dir)).rejects.toThrow(/tokenizer_config\.json: not valid JSON/);
  });
});

describe('chat templates as bad input', () => {
  it('a template that does not parse fails at load time, naming the directory and the key', async () => {
    const dir = join(tmp, 'bad-template');
    await cp(FIXTURE, dir, { recursive: true });
    const cfg = JSON.parse(await readFile(join(dir, 'tokenizer_config.json'), 'utf8'));
    await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...cfg, chat_template: '{% for m in messages %}{{ m.content }' }));
    await expect(loadTokenizer(dir)).rejects.toThrow(/bad-template \(tokenizer_config\.json or chat_template\.jinja\): chat_template does not parse as Jinja/);
  });

  it('end tokens, BOS and template flags of the tiny Qwen2 fixture', () => {
    expect(tok.endTokenIds!().sort()).toEqual([EOT, IM_END]);
    expect(tok.hasChatTemplate).toBe(true);
    expect(tok.addsBosToken).toBe(false);
  });
});
