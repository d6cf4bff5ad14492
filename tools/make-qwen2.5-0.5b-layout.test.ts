import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend, loadPretrained, type Pretrained } from '@emrl/lm';
import { defaultQwenTokenizerDir, makeQwen25Layout, QWEN25_05B_CONFIG, type LayoutSummary } from './make-qwen2.5-0.5b-layout';

// The generator at a shrunk width and depth (the vocabulary stays 151,936), loaded back by lm.

const SHAPE = { hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 48 };
let dir: string;
let summary: LayoutSummary;
let loaded: Pretrained;

beforeAll(async () => {
  await initBackend({ prefer: 'wasm' });
  dir = mkdtempSync(join(tmpdir(), 'qwen25-layout-'));
  // 151936 x 32 BF16 = 9.7 MB of embedding: a 6 MB shard limit forces a second shard.
  summary = await makeQwen25Layout({ outDir: dir, shape: SHAPE, maxShardBytes: 6e6, seed: 5 });
  loaded = await loadPretrained(dir);
}, 120_000); // loading the real 11 MB tokenizer.json takes seconds on a loaded machine

afterAll(() => {
  loaded?.model.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('make-qwen2.5-0.5b-layout (shrunk)', () => {
  it("writes Qwen2.5-0.5B's config.json keys, changing only the shape", () => {
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(config).sort()).toEqual(Object.keys(QWEN25_05B_CONFIG).sort());
    const changed = Object.keys(config).filter((k) => JSON.stringify(config[k]) !== JSON.stringify((QWEN25_05B_CONFIG as Record<string, unknown>)[k]));
    expect(changed.sort()).toEqual(['hidden_size', 'intermediate_size', 'max_window_layers', 'num_attention_heads', 'num_hidden_layers'].sort());
    expect(loaded.config).toMatchObject({ modelType: 'qwen2', vocabSize: 151936, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, tieWordEmbeddings: true, ropeTheta: 1e6 });
  });

  it('shards BF16 weights with an index whose total_size and weight_map match the files', () => {
    const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8')) as { metadata: { total_size: number }; weight_map: Record<string, string> };
    const shards = readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort();
    expect(shards).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    expect(summary.shards).toEqual(shards);
    expect(new Set(Object.values(index.weight_map))).toEqual(new Set(shards));
    const hd = SHAPE.hiddenSize / SHAPE.numHeads;
    const perLayer = 2 * 32 + (32 * 32 + 32) + 2 * (2 * hd * 32 + 2 * hd) + 32 * 32 + 3 * 32 * 48;
    expect(summary.parameters).toBe(151936 * 32 + 2 * perLayer + 32);
    expect(index.metadata.total_size).toBe(2 * summary.parameters);
    // Each file = 8-byte length + JSON header + the BF16 data of its tensors.
    const dataBytes = shards.map((f) => {
      const buf = readFileSync(join(dir, f));
      return statSync(join(dir, f)).size - 8 - Number(buf.readBigUInt64LE(0));
    });
    expect(dataBytes.reduce((a, b) => a + b, 0)).toBe(index.metadata.total_size);
    expect(loaded.model.source?.dtype).toBe('BF16');
  });

  it("follows transformers' init: N(0, 0.02) matrices, unit norms, zero biases", () => {
    const emb = loaded.model.weights.get('model.embed_tokens.weight')!;
    const { mean, variance } = tf.tidy(() => tf.moments(emb));
    expect(Math.abs(mean.dataSync()[0]!)).toBeLessThan(1e-4);
    expect(Math.sqrt(variance.dataSync()[0]!)).toBeCloseTo(0.02, 3);
    tf.dispose([mean, variance]);
    expect(Array.from(loaded.model.weights.get('model.norm.weight')!.dataSync()).every((v) => v === 1)).toBe(true);
    expect(Array.from(loaded.model.weights.get('model.layers.1.self_attn.q_proj.bias')!.dataSync()).every((v) => v === 0)).toBe(true);
  });

  it("ships the real Qwen tokenizer files and generation config's eos", () => {
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) {
      expect(readFileSync(join(dir, f)).equals(readFileSync(join(defaultQwenTokenizerDir(), f))), f).toBe(true); // byte-identical
    }
    expect(loaded.tokenizer.encode('Hello world')).toEqual([9707, 1879]); // Qwen2 BPE ids
    expect(loaded.stopTokenIds).toContain(151643); // <|endoftext|>
  });

  it('runs a forward pass over the full vocabulary', () => {
    const logits = tf.tidy(() => loaded.model.forward(tf.tensor2d([[9707, 1879, 0]], [1, 3], 'int32')));
    expect(logits.shape).toEqual([1, 3, 151936]);
    expect(Array.from(logits.dataSync()).every(Number.isFinite)).toBe(true);
    logits.dispose();
  });

  it('refuses a tokenizer directory without the files, naming the fix', async () => {
    await expect(makeQwen25Layout({ outDir: join(dir, 'x'), tokenizerDir: dir + '-none', shape: SHAPE })).rejects.toThrow(/--tokenizer-dir must hold tokenizer.json/);
  });
});
