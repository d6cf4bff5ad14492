import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError } from './errors';
import { encodeSafetensors, readSafetensors, decodeSafetensors } from './safetensors';
import { readSafetensorsDir } from './sharded';
import { findNonFinite, unflattenIndex } from './tensor-checks';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'emrl-tc-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A safetensors file from one tensor given as raw bytes with any dtype label. */
function oneTensorFile(name: string, dtype: string, shape: number[], data: Uint8Array): Uint8Array {
  const h = new TextEncoder().encode(JSON.stringify({ [name]: { dtype, shape, data_offsets: [0, data.byteLength] } }));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

const bytesOf = (a: Float32Array | Uint16Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

async function failure(p: Promise<unknown>): Promise<CheckpointError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(CheckpointError);
  return err as CheckpointError;
}

describe('findNonFinite', () => {
  it('agrees with a Number.isFinite scan on random data with injected NaN / Inf', () => {
    let seed = 7;
    const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let trial = 0; trial < 20; trial++) {
      const a = Float32Array.from({ length: 257 }, () => (rand() - 0.5) * 1e30);
      const inject = [NaN, Infinity, -Infinity];
      for (let k = 0; k < trial % 5; k++) a[Math.floor(rand() * a.length)] = inject[k % 3]!;
      const expected = [...a].map((v, i) => [v, i] as const).filter(([v]) => !Number.isFinite(v));
      const got = findNonFinite(a);
      if (expected.length === 0) expect(got).toBeNull();
      else {
        expect(got!.count).toBe(expected.length);
        expect(got!.firstIndex).toBe(expected[0]![1]);
      }
    }
  });
  it('treats the largest finite float32 and subnormals as finite', () => {
    expect(findNonFinite(new Float32Array([3.4028234663852886e38, -3.4028234663852886e38, 1e-45, -0]))).toBeNull();
  });
});

describe('unflattenIndex', () => {
  it('inverts row-major flattening', () => {
    const shape = [3, 4, 5];
    for (let i = 0; i < 60; i++) {
      const [a, b, c] = unflattenIndex(i, shape);
      expect(a! * 20 + b! * 5 + c!).toBe(i);
    }
  });
});

describe('reading refuses non-finite and mislabelled tensors', () => {
  it('names file, tensor, count and position of a NaN in F32 data', async () => {
    const path = join(dir, 'nan.safetensors');
    const data = new Float32Array([1, 2, 3, NaN, 5, Infinity]);
    await writeFile(path, oneTensorFile('model.embed.weight', 'F32', [2, 3], bytesOf(data)));
    const err = await failure(readSafetensors(path));
    expect(err.code).toBe('non-finite');
    expect(err.tensor).toBe('model.embed.weight');
    expect(err.message).toContain(path);
    expect(err.message).toMatch(/2 of 6 values are not finite \(first: NaN at \[1, 0\]\)/);
  });
  it('finds Inf in BF16 (0x7f80) and F16 (0x7c00) data after decoding', async () => {
    const bf = await failure(decodeSafetensors(oneTensorFile('w', 'BF16', [2], bytesOf(new Uint16Array([0x3f80, 0x7f80]))), 'x.safetensors'));
    expect(bf.message).toMatch(/first: Infinity at \[1\]/);
    const f16 = await failure(decodeSafetensors(oneTensorFile('w', 'F16', [2], bytesOf(new Uint16Array([0xfc00, 0x3c00]))), 'y.safetensors'));
    expect(f16.message).toMatch(/first: -Infinity at \[0\]/);
  });
  it('allowNonFinite opts out', async () => {
    const c = await decodeSafetensors(oneTensorFile('w', 'F32', [1], bytesOf(new Float32Array([NaN]))), 'z', { allowNonFinite: true });
    expect(Number.isNaN(c.tensors.get('w')!.data[0])).toBe(true);
  });
  it('finite files load unchanged', async () => {
    const values = new Float32Array([0.5, -2, 1e-30]);
    const c = await decodeSafetensors(encodeSafetensors(new Map([['w', { shape: [3], data: values }]])));
    expect([...c.tensors.get('w')!.data]).toEqual([...values]);
  });
  it('a model directory refuses F32 data labelled I32 (same byte length); a plain read keeps I32', async () => {
    const model = join(dir, 'model-i32');
    await mkdir(model);
    const file = oneTensorFile('lm_head.weight', 'I32', [2], bytesOf(new Float32Array([1, -0.5])));
    await writeFile(join(model, 'model.safetensors'), file);
    const err = await failure(readSafetensorsDir(model));
    expect(err.code).toBe('dtype-mismatch');
    expect(err.message).toContain(join(model, 'model.safetensors'));
    expect(err.message).toContain('"lm_head.weight"');
    const plain = await readSafetensors(join(model, 'model.safetensors'));
    expect(plain.tensors.get('lm_head.weight')!.data).toBeInstanceOf(Int32Array);
  });
  it('a shard of a sharded model directory with a NaN is refused, naming the shard', async () => {
    const model = join(dir, 'model-sharded');
    await mkdir(model);
    await writeFile(join(model, 'model-00001-of-00002.safetensors'), oneTensorFile('a', 'F32', [1], bytesOf(new Float32Array([1]))));
    await writeFile(join(model, 'model-00002-of-00002.safetensors'), oneTensorFile('b', 'F32', [1], bytesOf(new Float32Array([NaN]))));
    await writeFile(
      join(model, 'model.safetensors.index.json'),
      JSON.stringify({ weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' } }),
    );
    const err = await failure(readSafetensorsDir(model));
    expect(err.code).toBe('non-finite');
    expect(err.file).toBe(join(model, 'model-00002-of-00002.safetensors'));
    expect(err.tensor).toBe('b');
  });
});
