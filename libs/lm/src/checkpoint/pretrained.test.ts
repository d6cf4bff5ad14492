import * as tf from '@tensorflow/tfjs-core';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../generation/generate';
import type { CausalLM } from '../model/causal-lm';
import { setupTestBackend } from '../testing';
import { ByteTokenizer } from '../tokenizer/byte-tokenizer';
import { loadPretrained, savePretrained, type Pretrained } from './pretrained';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/tiny-qwen2');

interface Expected {
  input_ids: number[][];
  logits: number[][][];
}

let tmp: string;
let loaded: Pretrained;
let expected: Expected;

beforeAll(async () => {
  await setupTestBackend();
  tmp = await mkdtemp(join(tmpdir(), 'emrl-pretrained-'));
  expected = JSON.parse(await readFile(join(FIXTURE, 'expected_logits.json'), 'utf8')) as Expected;
  loaded = await loadPretrained(FIXTURE);
});
afterAll(async () => {
  loaded?.model.dispose();
  await rm(tmp, { recursive: true, force: true });
});

function logitsOf(model: CausalLM, ids: number[][]): Float32Array {
  return tf.tidy(() => model.forward(tf.tensor2d(ids, [ids.length, ids[0]!.length], 'int32')).dataSync() as Float32Array);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('loadPretrained on the tiny Qwen2 fixture (tools/make-tiny-qwen2.ts + tools/torch_reference.py)', () => {
  it('parses config, tokenizer and generation config', () => {
    const { config, tokenizer, generationConfig } = loaded;
    expect(config).toMatchObject({ family: 'llama', modelType: 'qwen2', vocabSize: 280, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, tieWordEmbeddings: false, attentionBias: true });
    expect(tokenizer.vocabSize).toBe(280);
    expect(tokenizer.eosTokenId).toBe(tokenizer.tokenToId('<|im_end|>'));
    expect(generationConfig?.eos_token_id).toEqual([279, 277]);
    // The reference input row 0 is this text in the fixture tokenizer.
    expect(tokenizer.encode('<|im_start|>user\nthe cat sat on the mat<|im_end|>\n')).toEqual(expected.input_ids[0]);
  });

  it('matches the plain-torch float64 reference logits within 1e-4', () => {
    const got = logitsOf(loaded.model, expected.input_ids);
    expect(maxAbsDiff(got, expected.logits.flat(2))).toBeLessThan(1e-4);
  });

  it('saves (F32 and BF16) and reloads to identical logits, then generates', async () => {
    const before = logitsOf(loaded.model, expected.input_ids);
    for (const dtype of ['F32', 'BF16'] as const) {
      const out = join(tmp, `saved-${dtype}`);
      await savePretrained(out, loaded.model, loaded.tokenizer, { dtype, extraFiles: { 'README.md': '# tiny\n' } });
      expect((await readdir(out)).sort()).toEqual(
        ['README.md', 'config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'],
      );
      expect(JSON.parse(await readFile(join(out, 'config.json'), 'utf8')).torch_dtype).toBe(dtype === 'BF16' ? 'bfloat16' : 'float32');
      const again = await loadPretrained(out);
      try {
        // Fixture weights are bf16 values, so both dtypes store them exactly.
        expect(maxAbsDiff(logitsOf(again.model, expected.input_ids), before)).toBe(0);
        expect(again.tokenizer.applyChatTemplate!([{ role: 'user', content: 'hi' }])).toBe(
          loaded.tokenizer.applyChatTemplate!([{ role: 'user', content: 'hi' }]),
        );
        const prompt = [expected.input_ids[0]!];
        const opts = { maxNewTokens: 4, temperature: 0, stopTokenIds: [] };
        const a = await generate(loaded.model, prompt, opts);
        const b = await generate(again.model, prompt, opts);
        expect(a.tokens[0]).toHaveLength(4);
        expect(b.tokens).toEqual(a.tokens);
        // Greedy's first token is the argmax of the reference logits at the last prompt position.
        const last = expected.logits[0]!.at(-1)!;
        expect(a.tokens[0]![0]).toBe(last.indexOf(Math.max(...last)));
        expect(typeof again.tokenizer.decode(b.tokens[0]!)).toBe('string');
      } finally {
        again.model.dispose();
      }
    }
  });

  it('overwrites an existing checkpoint in place and leaves no temp files', async () => {
    const out = join(tmp, 'overwrite');
    await savePretrained(out, loaded.model, loaded.tokenizer, { maxShardBytes: 20_000 });
    expect(existsSync(join(out, 'model.safetensors.index.json'))).toBe(true);
    await savePretrained(out, loaded.model, loaded.tokenizer);
    expect((await readdir(out)).filter((f) => f.startsWith('model'))).toEqual(['model.safetensors']);
    expect((await readdir(tmp)).filter((f) => f.includes('.tmp-'))).toEqual([]);
    const again = await loadPretrained(out);
    again.model.dispose();
  });

  it('names the missing file and what the directory must contain', async () => {
    const dir = join(tmp, 'partial');
    await cp(FIXTURE, dir, { recursive: true });
    await rm(join(dir, 'model.safetensors'));
    await expect(loadPretrained(dir)).rejects.toThrow(/must contain model\.safetensors or model\.safetensors\.index\.json/);
    await rm(join(dir, 'tokenizer.json'));
    await expect(loadPretrained(dir)).rejects.toThrow(/tokenizer\.json: missing tokenizer; a pretrained directory must contain config\.json/);
    await rm(join(dir, 'config.json'));
    await expect(loadPretrained(dir)).rejects.toThrow(/config\.json: missing model config/);
    await expect(loadPretrained(join(tmp, 'does-not-exist'))).rejects.toThrow(/not a directory/);
  });

  it('rejects a tokenizer larger than the model vocabulary', async () => {
    const dir = join(tmp, 'small-vocab');
    await cp(FIXTURE, dir, { recursive: true });
    const cfg = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    await writeFile(join(dir, 'config.json'), JSON.stringify({ ...cfg, vocab_size: 270 }));
    await expect(loadPretrained(dir)).rejects.toThrow(/280 tokens but config\.json vocab_size is 270/);
  });

  it('refuses to save a tokenizer that cannot serialize itself', async () => {
    const bt = new ByteTokenizer();
    const noFiles = { ...bt, encode: bt.encode.bind(bt), decode: bt.decode.bind(bt), tokenToId: bt.tokenToId.bind(bt), stopTokenIds: bt.stopTokenIds.bind(bt), toFiles: undefined };
    await expect(savePretrained(join(tmp, 'x'), loaded.model, noFiles)).rejects.toThrow(/cannot serialize itself/);
  });
});
