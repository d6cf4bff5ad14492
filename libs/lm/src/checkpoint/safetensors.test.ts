import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from './atomic';
import { bf16BitsToFloat32, decodeBf16, decodeF16, f16BitsToFloat32, float32ToBf16Bits } from './dtype';
import { CheckpointError, type CheckpointErrorCode } from './errors';
import { decodeSafetensors, encodeSafetensors, readSafetensors, writeSafetensors, type RawTensor } from './safetensors';
import { readSafetensorsDir, writeSafetensorsDir } from './sharded';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'emrl-st-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function bitsOf(x: number): number {
  return new Uint32Array(new Float32Array([x]).buffer)[0]!;
}

/** Builds a safetensors file by hand from a header object and raw data bytes. */
function handMade(header: unknown, data: Uint8Array, headerLenOverride?: number): Uint8Array {
  const h = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLenOverride ?? h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

async function expectCode(bytes: Uint8Array, code: CheckpointErrorCode, tensor?: string): Promise<CheckpointError> {
  const path = join(dir, `bad-${code}.safetensors`);
  await writeFile(path, bytes);
  const err = await readSafetensors(path).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CheckpointError);
  const ce = err as CheckpointError;
  expect(ce.code).toBe(code);
  expect(ce.message).toContain(path);
  if (tensor) expect(ce.message).toContain(`"${tensor}"`);
  return ce;
}

describe('16-bit float conversion (hand-computed bit patterns)', () => {
  it('bf16 -> f32 is the high half of the float32 bits', () => {
    expect(bf16BitsToFloat32(0x3f80)).toBe(1);
    expect(bf16BitsToFloat32(0xc000)).toBe(-2);
    expect(bf16BitsToFloat32(0x4049)).toBe(3.140625);
    expect(bf16BitsToFloat32(0x7f80)).toBe(Infinity);
    expect(Number.isNaN(bf16BitsToFloat32(0x7fc0))).toBe(true);
    expect(Array.from(decodeBf16(new Uint8Array([0x80, 0x3f, 0x00, 0xc0])))).toEqual([1, -2]);
  });

  it('f32 -> bf16 rounds to nearest, ties to even', () => {
    expect(float32ToBf16Bits(1)).toBe(0x3f80);
    expect(float32ToBf16Bits(0.1)).toBe(0x3dcd); // 0x3DCCCCCD: low half 0xCCCD > 0x8000 rounds up
    expect(float32ToBf16Bits(new Float32Array(new Uint32Array([0x3f808000]).buffer)[0]!)).toBe(0x3f80); // tie, even stays
    expect(float32ToBf16Bits(new Float32Array(new Uint32Array([0x3f818000]).buffer)[0]!)).toBe(0x3f82); // tie, odd rounds up
    expect(float32ToBf16Bits(-0)).toBe(0x8000);
    expect(float32ToBf16Bits(NaN)).toBe(0x7fc0);
    expect(bitsOf(bf16BitsToFloat32(float32ToBf16Bits(3.140625)))).toBe(0x40490000);
  });

  it('f16 -> f32 handles normals, subnormals, infinities and NaN', () => {
    expect(f16BitsToFloat32(0x3c00)).toBe(1);
    expect(f16BitsToFloat32(0xc000)).toBe(-2);
    expect(f16BitsToFloat32(0x7bff)).toBe(65504);
    expect(f16BitsToFloat32(0x3555)).toBe(0.333251953125);
    expect(f16BitsToFloat32(0x0001)).toBe(2 ** -24);
    expect(f16BitsToFloat32(0x0400)).toBe(2 ** -14);
    expect(f16BitsToFloat32(0x7c00)).toBe(Infinity);
    expect(f16BitsToFloat32(0xfc00)).toBe(-Infinity);
    expect(Object.is(f16BitsToFloat32(0x8000), -0)).toBe(true);
    expect(Number.isNaN(f16BitsToFloat32(0x7e00))).toBe(true);
    expect(Array.from(decodeF16(new Uint8Array([0x00, 0x3c, 0xff, 0x7b])))).toEqual([1, 65504]);
  });
});

describe('safetensors read/write', () => {
  const tensors = new Map<string, RawTensor>([
    ['b.weight', { shape: [2, 3], data: new Float32Array([1, -2, 0.5, 1e-3, 3.25, -7]) }],
    ['a.bias', { shape: [3], data: new Float32Array([0.1, 0.2, 0.3]) }],
    ['ids', { shape: [2], data: new Int32Array([5, -9]) }],
    ['scalar', { shape: [], data: new Float32Array([42]) }],
  ]);

  it('round-trips F32 exactly, with metadata and an 8-byte-aligned data section', async () => {
    const path = join(dir, 'rt.safetensors');
    await writeSafetensors(path, tensors, { metadata: { format: 'pt' } });
    const bytes = new Uint8Array(await readFile(path));
    const headerLen = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    expect((8 + headerLen) % 8).toBe(0);
    const back = await readSafetensors(path);
    expect(back.metadata).toEqual({ format: 'pt' });
    expect([...back.tensors.keys()].sort()).toEqual([...tensors.keys()].sort());
    for (const [name, t] of tensors) {
      const b = back.tensors.get(name)!;
      expect(b.shape).toEqual(t.shape);
      expect(b.data.constructor).toBe(t.data.constructor);
      expect(Array.from(b.data)).toEqual(Array.from(t.data));
    }
    expect(back.tensors.get('ids')!.sourceDtype).toBe('I32');
    // No temp files left behind by the atomic write.
    expect((await readdir(dir)).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('writes BF16 as rounded bf16 bit patterns and reads them back as float32', async () => {
    const bytes = encodeSafetensors(new Map([['x', { shape: [3], data: new Float32Array([1, 0.1, -2]) }]]), { dtype: 'BF16' });
    const back = await decodeSafetensors(bytes);
    const x = back.tensors.get('x')!;
    expect(x.sourceDtype).toBe('BF16');
    expect(Array.from(x.data, bitsOf)).toEqual([0x3f800000, 0x3dcd0000, 0xc0000000]);
  });

  it('reads F16 and I64 tensors written by hand', async () => {
    const data = new Uint8Array([0x00, 0x3c, 0x00, 0xc0, 7, 0, 0, 0, 0, 0, 0, 0, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    const back = await decodeSafetensors(
      handMade({ h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] }, i: { dtype: 'I64', shape: [2], data_offsets: [4, 20] } }, data),
    );
    expect(Array.from(back.tensors.get('h')!.data)).toEqual([1, -2]);
    expect(back.tensors.get('i')!.data).toBeInstanceOf(Int32Array);
    expect(Array.from(back.tensors.get('i')!.data)).toEqual([7, -3]);
  });

  it('names each kind of corruption', async () => {
    const ok = { w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
    const eight = new Uint8Array(8);
    await expectCode(new Uint8Array(5), 'truncated');
    await expectCode(handMade(ok, eight, 500), 'truncated');
    await expectCode(handMade(ok, new Uint8Array(4)), 'truncated', 'w');
    await expectCode(handMade('{"w": {"dtype": "F32",', eight), 'malformed-header');
    await expectCode(handMade({ w: { dtype: 'F32', shape: [2] } }, eight), 'malformed-header', 'w');
    await expectCode(handMade({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, __metadata__: { n: 3 } }, eight), 'malformed-header');
    await expectCode(handMade({ w: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }, eight), 'unsupported-dtype', 'w');
    await expectCode(handMade({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, eight), 'size-mismatch', 'w');
    await expectCode(handMade({ w: { dtype: 'F32', shape: [1], data_offsets: [8, 4] } }, eight), 'offsets-out-of-range', 'w');
    await expectCode(
      handMade({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, w: { dtype: 'F32', shape: [1], data_offsets: [12, 16] } }, eight),
      'offsets-out-of-range',
      'w',
    );
    await expectCode(
      handMade({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, w: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, eight),
      'overlapping-offsets',
      'w',
    );
    const missing = await readSafetensors(join(dir, 'nope.safetensors')).catch((e: unknown) => e);
    expect((missing as CheckpointError).code).toBe('missing-file');
  });

  it('rejects writing a tensor whose data does not match its shape', () => {
    expect(() => encodeSafetensors(new Map([['w', { shape: [2, 2], data: new Float32Array(3) }]]))).toThrow(/"w".*4 elements but data has 3/);
  });
});

describe('sharded directories', () => {
  it('writes shards + index above maxShardBytes and reads them back; a later single-file save removes the shards', async () => {
    const sdir = join(dir, 'sharded');
    const tensors = new Map<string, RawTensor>();
    for (let i = 0; i < 5; i++) tensors.set(`layer.${i}.w`, { shape: [4], data: new Float32Array([i, i + 0.5, -i, 1]) });
    const files = await writeSafetensorsDir(sdir, tensors, { maxShardBytes: 40 });
    expect(files).toEqual([
      'model-00001-of-00003.safetensors',
      'model-00002-of-00003.safetensors',
      'model-00003-of-00003.safetensors',
      'model.safetensors.index.json',
    ]);
    const index = JSON.parse(await readFile(join(sdir, 'model.safetensors.index.json'), 'utf8'));
    expect(index.metadata.total_size).toBe(80);
    expect(index.weight_map['layer.4.w']).toBe('model-00003-of-00003.safetensors');
    const back = await readSafetensorsDir(sdir);
    expect(back.tensors.size).toBe(5);
    expect(Array.from(back.tensors.get('layer.3.w')!.data)).toEqual([3, 3.5, -3, 1]);

    await writeSafetensorsDir(sdir, tensors);
    expect((await readdir(sdir)).sort()).toEqual(['model.safetensors']);
  });

  it('reports an index that points at the wrong shard, and a missing shard', async () => {
    const sdir = join(dir, 'bad-index');
    await writeSafetensors(join(sdir, 'model-00001-of-00001.safetensors'), new Map([['a', { shape: [1], data: new Float32Array([1]) }]]));
    await writeFileAtomic(join(sdir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { a: 'model-00001-of-00001.safetensors', b: 'model-00001-of-00001.safetensors' } }));
    const e1 = (await readSafetensorsDir(sdir).catch((e: unknown) => e)) as CheckpointError;
    expect(e1.code).toBe('bad-index');
    expect(e1.message).toContain('"b"');
    await writeFileAtomic(join(sdir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { a: 'model-00009-of-00009.safetensors' } }));
    const e2 = (await readSafetensorsDir(sdir).catch((e: unknown) => e)) as CheckpointError;
    expect(e2.code).toBe('missing-file');
    expect(e2.message).toContain('model-00009-of-00009.safetensors');
    const e3 = (await readSafetensorsDir(join(dir, 'empty-nothing')).catch((e: unknown) => e)) as CheckpointError;
    expect(e3.message).toMatch(/must contain model\.safetensors or model\.safetensors\.index\.json/);
  });
});
