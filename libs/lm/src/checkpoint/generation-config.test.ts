import * as tf from '@tensorflow/tfjs-core';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../generation/generate';
import { parseGenerationConfig } from '../generation/generation-config';
import { setupTestBackend } from '../testing';
import { decodeF16, f16BitsToFloat32, float32ToF16Bits } from './dtype';
import { loadPretrained, savePretrained, type Pretrained } from './pretrained';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures');
const QWEN3 = join(FIXTURES, 'tiny-qwen3');

let tmp: string;
let loaded: Pretrained;

beforeAll(async () => {
  await setupTestBackend();
  tmp = await mkdtemp(join(tmpdir(), 'emrl-genconfig-'));
  loaded = await loadPretrained(QWEN3);
});
afterAll(async () => {
  loaded?.model.dispose();
  await rm(tmp, { recursive: true, force: true });
});

/** dtype of every tensor in a safetensors file (header only). */
async function headerDtypes(path: string): Promise<Set<string>> {
  const bytes = await readFile(path);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype?: string }>;
  return new Set(Object.entries(header).filter(([k]) => k !== '__metadata__').map(([, v]) => v.dtype!));
}

describe('generation_config.json', () => {
  it('parses eos_token_id as a number or a list, and names the file on bad input', () => {
    expect(parseGenerationConfig({ eos_token_id: 7 }, 'g.json').eos_token_id).toBe(7);
    expect(parseGenerationConfig({ eos_token_id: [7, 9], other: 'kept' }, 'g.json')).toEqual({ eos_token_id: [7, 9], other: 'kept' });
    expect(() => parseGenerationConfig({ eos_token_id: 'x' }, 'dir/generation_config.json')).toThrow(/dir\/generation_config\.json: invalid generation config.*eos_token_id/s);
  });

  it('stop ids are the union of generation_config, config.json and tokenizer eos ids', () => {
    // generation_config [258, 256], config.json 258, tokenizer eos <|im_end|> = 258.
    expect(loaded.stopTokenIds).toEqual([258, 256]);
    expect(loaded.model.stopTokenIds).toEqual([258, 256]);
  });

  it('generate() stops on a generation_config eos id that is not the tokenizer eos', async () => {
    const prompt = [[256, 116, 104, 101]];
    const free = await generate(loaded.model, prompt, { maxNewTokens: 6, temperature: 0, stopTokenIds: [] });
    const third = free.tokens[0]![2]!;
    expect(free.tokens[0]!.slice(0, 2)).not.toContain(third);
    expect(third).not.toBe(loaded.tokenizer.eosTokenId);
    const dir = join(tmp, 'eos-list');
    await cp(QWEN3, dir, { recursive: true });
    await writeFile(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: [third] }));
    const p = await loadPretrained(dir);
    try {
      const out = await generate(p.model, prompt, { maxNewTokens: 6, temperature: 0 });
      expect(out.tokens[0]).toEqual(free.tokens[0]!.slice(0, 3));
      expect(out.finishReasons[0]).toBe('stop');
    } finally {
      p.model.dispose();
    }
  });

  it('savePretrained keeps generation_config.json as loaded, the source dtype, and writes transformers_version', async () => {
    const out = join(tmp, 'saved');
    await savePretrained(out, loaded.model, loaded.tokenizer);
    const original = JSON.parse(await readFile(join(QWEN3, 'generation_config.json'), 'utf8'));
    expect(JSON.parse(await readFile(join(out, 'generation_config.json'), 'utf8'))).toEqual(original);
    const cfg = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    expect(cfg).toMatchObject({ torch_dtype: 'bfloat16', transformers_version: expect.stringMatching(/^\d+\.\d+\.\d+$/), model_type: 'qwen3' });
    expect(await headerDtypes(join(out, 'model.safetensors'))).toEqual(new Set(['BF16']));
    await savePretrained(join(tmp, 'f32'), loaded.model, loaded.tokenizer, { dtype: 'F32' });
    expect(await headerDtypes(join(tmp, 'f32', 'model.safetensors'))).toEqual(new Set(['F32']));
  });

  it('a trained (no longer bf16-exact) model is saved F32 unless BF16 is asked for', async () => {
    const m = loaded.model.clone();
    try {
      const w = m.weights.get('model.norm.weight')!;
      const bumped = tf.add(w, 1e-4); // not representable in bf16 around 1
      w.assign(bumped);
      bumped.dispose();
      await savePretrained(join(tmp, 'trained'), m, loaded.tokenizer);
      expect(await headerDtypes(join(tmp, 'trained', 'model.safetensors'))).toEqual(new Set(['F32']));
      expect(JSON.parse(await readFile(join(tmp, 'trained', 'config.json'), 'utf8')).torch_dtype).toBe('float32');
      await savePretrained(join(tmp, 'trained-bf16'), m, loaded.tokenizer, { dtype: 'BF16' });
      expect(await headerDtypes(join(tmp, 'trained-bf16', 'model.safetensors'))).toEqual(new Set(['BF16']));
    } finally {
      m.dispose();
    }
  });

  it('an F16 checkpoint stays F16 when saved again unchanged', async () => {
    await savePretrained(join(tmp, 'f16'), loaded.model, loaded.tokenizer, { dtype: 'F16' });
    const p = await loadPretrained(join(tmp, 'f16'));
    try {
      expect(p.model.source?.dtype).toBe('F16');
      await savePretrained(join(tmp, 'f16-again'), p.model, p.tokenizer);
      expect(await headerDtypes(join(tmp, 'f16-again', 'model.safetensors'))).toEqual(new Set(['F16']));
      expect(JSON.parse(await readFile(join(tmp, 'f16-again', 'config.json'), 'utf8')).torch_dtype).toBe('float16');
    } finally {
      p.model.dispose();
    }
  });
});

describe('float32 -> f16 rounding (IEEE 754 binary16, ties to even)', () => {
  it('encodes known bit patterns', () => {
    expect(float32ToF16Bits(1)).toBe(0x3c00);
    expect(float32ToF16Bits(-2)).toBe(0xc000);
    expect(float32ToF16Bits(65504)).toBe(0x7bff); // largest finite
    expect(float32ToF16Bits(65520)).toBe(0x7c00); // rounds to inf
    expect(float32ToF16Bits(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(float32ToF16Bits(2 ** -25)).toBe(0x0000); // tie between 0 and 2^-24: even (0)
    expect(float32ToF16Bits(1.5 * 2 ** -24)).toBe(0x0002); // tie between 1 and 2 ulps: even (2)
    expect(float32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie: even stays
    expect(float32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie: odd rounds up
    expect(float32ToF16Bits(1 / 3)).toBe(0x3555);
    expect(float32ToF16Bits(Infinity)).toBe(0x7c00);
    expect(Number.isNaN(f16BitsToFloat32(float32ToF16Bits(NaN)))).toBe(true);
  });

  it('round-trips every finite f16 value exactly', () => {
    const bad: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00) continue; // inf / NaN
      if (float32ToF16Bits(f16BitsToFloat32(h)) !== h) bad.push(h);
    }
    expect(bad).toEqual([]);
    expect(Array.from(decodeF16(new Uint8Array([0x00, 0x3c, 0x00, 0xc0])))).toEqual([1, -2]);
  });
});
