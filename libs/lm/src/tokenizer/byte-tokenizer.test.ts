import { Tokenizer as HfImpl } from '@huggingface/tokenizers';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BYTE_TO_UNICODE, textToByteLevel } from './bytes-to-unicode';
import { ByteTokenizer } from './byte-tokenizer';
import { loadTokenizer } from './load-tokenizer';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'emrl-bytetok-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const SAMPLES = ['hello world', 'héllo wörld', '日本語のテキスト', 'emoji 🎉 and 👩‍👩‍👧 family', 'tabs\tand\nnewlines\r\n', '  lead and trail  ', ''];

describe('bytes_to_unicode', () => {
  it('is the GPT-2 map: printable bytes map to themselves, space/newline to Ġ/Ċ, a bijection onto 256 chars', () => {
    expect(BYTE_TO_UNICODE[0x41]).toBe('A');
    expect(BYTE_TO_UNICODE[0x20]).toBe('Ġ');
    expect(BYTE_TO_UNICODE[0x0a]).toBe('Ċ');
    expect(BYTE_TO_UNICODE[0x00]).toBe('Ā');
    expect(BYTE_TO_UNICODE[0xad]).toBe('\u0143'); // soft hyphen, the last shifted byte: 256 + 67
    expect(new Set(BYTE_TO_UNICODE).size).toBe(256);
    expect(textToByteLevel(' é')).toBe('ĠÃ©');
  });
});

describe('ByteTokenizer', () => {
  const tok = new ByteTokenizer();

  it('has vocab 258 with <|pad|> = 256 and <|endoftext|> = 257', () => {
    expect(tok.vocabSize).toBe(258);
    expect(tok.padTokenId).toBe(256);
    expect(tok.eosTokenId).toBe(257);
    expect(tok.bosTokenId).toBeNull();
  });

  it('encodes UTF-8 bytes (multibyte included) and round-trips', () => {
    expect(tok.encode('aé€🎉')).toEqual([0x61, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x8e, 0x89]);
    for (const s of SAMPLES) expect(tok.decode(tok.encode(s))).toBe(s);
  });

  it('splits special-token strings out of text; decode drops them unless keepSpecial', () => {
    const ids = tok.encode('a<|endoftext|>b<|pad|><|pad|>');
    expect(ids).toEqual([97, 257, 98, 256, 256]);
    expect(tok.decode(ids)).toBe('ab');
    expect(tok.decode(ids, { keepSpecial: true })).toBe('a<|endoftext|>b<|pad|><|pad|>');
    expect(tok.encode('<|endoftext')).toHaveLength('<|endoftext'.length); // incomplete: plain bytes
    // A special token between the bytes of one character breaks it into replacement characters.
    expect(tok.decode([0xc3, 257, 0xa9])).toBe('\uFFFD\uFFFD');
    // Ids past the vocabulary (padded embedding rows) decode to nothing.
    expect(tok.decode([104, 300, 105])).toBe('hi');
  });

  it('maps token strings to ids and single-token stop strings to stop ids', () => {
    expect(tok.tokenToId('$')).toBe(36);
    expect(tok.tokenToId('<|endoftext|>')).toBe(257);
    expect(tok.tokenToId('Ġ')).toBe(32);
    expect(tok.tokenToId('ab')).toBeUndefined();
    expect(tok.stopTokenIds(['$'])).toEqual([36]);
    expect(tok.stopTokenIds(['$', '\n', '<|endoftext|>', 'é', 'stop', '$'])).toEqual([36, 10, 257]);
  });

  it('supports custom specials and reports bad ones', () => {
    const t = new ByteTokenizer({ specials: ['<s>', '</s>', '<pad>'], bosToken: '<s>', eosToken: '</s>', padToken: '<pad>' });
    expect([t.bosTokenId, t.eosTokenId, t.padTokenId, t.vocabSize]).toEqual([256, 257, 258, 259]);
    expect(() => new ByteTokenizer({ eosToken: '</s>' })).toThrow(/eosToken "<\/s>" is not one of the special tokens/);
    expect(() => new ByteTokenizer({ specials: ['<a>', '<a>'] })).toThrow(/duplicate/);
  });

  it('renders its default chat template, and throws a clear error without one', () => {
    const msgs = [
      { role: 'user', content: 'What is 2+2?' },
      { role: 'assistant', content: '4' },
    ];
    expect(tok.applyChatTemplate(msgs)).toBe('user: What is 2+2?\nassistant: 4\n');
    expect(tok.applyChatTemplate(msgs.slice(0, 1), { addGenerationPrompt: true })).toBe('user: What is 2+2?\nassistant: ');
    expect(() => new ByteTokenizer({ chatTemplate: null }).applyChatTemplate(msgs)).toThrow(/no chat template/);
  });

  it('serializes to a Hugging Face tokenizer.json that loadTokenizer reads back as a ByteTokenizer', async () => {
    const t = new ByteTokenizer({ specials: ['<|pad|>', '<|endoftext|>', '<|user|>'], chatTemplate: '{{ messages[0].content }}!' });
    const sub = join(dir, 'roundtrip');
    await rm(sub, { recursive: true, force: true });
    const files = t.toFiles();
    const { mkdir } = await import('node:fs/promises');
    await mkdir(sub);
    for (const [name, content] of Object.entries(files)) await writeFile(join(sub, name), content);
    const back = await loadTokenizer(sub);
    expect(back).toBeInstanceOf(ByteTokenizer);
    expect([back.vocabSize, back.padTokenId, back.eosTokenId]).toEqual([259, 256, 257]);
    expect(back.encode('x<|user|>')).toEqual([120, 258]);
    expect(back.applyChatTemplate!([{ role: 'user', content: 'yo' }])).toBe('yo!');
  });

  it('agrees with @huggingface/tokenizers reading the same tokenizer.json', () => {
    const files = tok.toFiles();
    const hf = new HfImpl(JSON.parse(files['tokenizer.json']!), JSON.parse(files['tokenizer_config.json']!));
    for (const s of [...SAMPLES.filter((x) => x !== ''), 'x<|endoftext|>y', '<|pad|><|pad|>z']) {
      const ids = tok.encode(s);
      expect(hf.encode(s, { add_special_tokens: false }).ids).toEqual(ids);
      expect(hf.decode(ids, { skip_special_tokens: true })).toBe(tok.decode(ids));
      expect(hf.decode(ids, { skip_special_tokens: false })).toBe(tok.decode(ids, { keepSpecial: true }));
    }
    expect(hf.token_to_id('<|endoftext|>')).toBe(257);
  });
});

describe('ByteTokenizer end tokens and chat template flag', () => {
  it('ends on EOS and on the known end-of-turn specials it has, nothing else', () => {
    const tok = new ByteTokenizer({ specials: ['<|pad|>', '<|endoftext|>', '<|im_end|>', '<|im_start|>'] });
    expect(tok.endTokenIds().sort()).toEqual([257, 258]);
    expect(tok.hasChatTemplate).toBe(true);
    expect(new ByteTokenizer({ chatTemplate: null }).hasChatTemplate).toBe(false);
  });
});
