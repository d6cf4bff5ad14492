import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend';
import { simdGemm, type GemmShape, type GemmTiling } from './simd-gemm';
import { asWasmBackend, byteOffset, heapF32 } from './wasm-backend';
import { sleb, uleb } from './wasm-emit';

beforeAll(async () => {
  const info = await initBackend({ prefer: 'wasm' });
  expect(info.name).toBe('wasm');
});

describe('wasm-emit LEB128', () => {
  it('encodes unsigned and signed integers as the spec examples', () => {
    expect(uleb(0)).toEqual([0]);
    expect(uleb(624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(sleb(-123456)).toEqual([0xc0, 0xbb, 0x78]);
    expect(sleb(64)).toEqual([0xc0, 0x00]);
    expect(sleb(-1)).toEqual([0x7f]);
  });
});

/** C = A B in float64 from a flat A at strides (rsA, csA) and B [k, n] with row stride ldb. */
function reference(a: Float32Array, b: Float32Array, s: GemmShape): Float64Array {
  const c = new Float64Array(s.m * s.n);
  for (let i = 0; i < s.m; i++)
    for (let j = 0; j < s.n; j++) {
      let acc = 0;
      for (let p = 0; p < s.k; p++) acc += a[i * s.rsA + p * s.csA]! * b[p * s.ldb + j]!;
      c[i * s.n + j] = acc;
    }
  return c;
}

describe('simdGemm', () => {
  const tilings: GemmTiling[] = [
    { mr: 4, nv: 2, unroll: 1, kc: 128 },
    { mr: 3, nv: 3, unroll: 2, kc: 5 },
    { mr: 1, nv: 1, unroll: 3, kc: 1000 },
  ];
  const shapes: [number, number, number, boolean][] = [
    [1, 1, 1, false],
    [7, 13, 5, false], // row tail 3, column tails
    [51, 24, 51, false], // attention shapes
    [51, 51, 24, true], // transposed A read in place
    [9, 30, 17, true],
  ];
  for (const t of tilings) {
    for (const [m, n, k, ta] of shapes) {
      it(`m ${m} n ${n} k ${k} transposeA=${ta} tiling ${JSON.stringify(t)} matches float64 and leaves C's neighbours alone`, () => {
        const backend = asWasmBackend(tf.backend());
        const s: GemmShape = { m, n, k, rsA: ta ? 1 : k, csA: ta ? m : 1, ldb: n };
        const a = tf.randomNormal([m * k], 0, 1, 'float32', m + n);
        const b = tf.randomNormal([k * n], 0, 1, 'float32', k);
        const c = tf.fill([m * n + 8], 7); // 8 guard floats after C
        simdGemm(backend.wasm.asm.memory, s, t)(byteOffset(backend, a), byteOffset(backend, b), byteOffset(backend, c));
        const out = heapF32(backend, c);
        const ref = reference(a.dataSync() as Float32Array, b.dataSync() as Float32Array, s);
        let worst = 0;
        for (let i = 0; i < m * n; i++) worst = Math.max(worst, Math.abs(out[i]! - ref[i]!) / (1 + Math.abs(ref[i]!)));
        expect(worst).toBeLessThan(1e-5);
        expect(Array.from(out.slice(m * n))).toEqual(new Array<number>(8).fill(7));
        tf.dispose([a, b, c]);
      });
    }
  }

  it('gives bit-identical results to a sequential float32 sum (k-blocks do not reorder terms)', () => {
    const backend = asWasmBackend(tf.backend());
    const s: GemmShape = { m: 5, n: 6, k: 300, rsA: 300, csA: 1, ldb: 6 };
    const a = tf.randomNormal([5 * 300], 0, 1, 'float32', 3);
    const b = tf.randomNormal([300 * 6], 0, 1, 'float32', 4);
    const c = tf.zeros([30]);
    simdGemm(backend.wasm.asm.memory, s, { mr: 4, nv: 2, unroll: 1, kc: 128 })(byteOffset(backend, a), byteOffset(backend, b), byteOffset(backend, c));
    const av = a.dataSync();
    const bv = b.dataSync();
    const out = heapF32(backend, c);
    for (let i = 0; i < 5; i++)
      for (let j = 0; j < 6; j++) {
        let acc = 0;
        for (let p = 0; p < 300; p++) acc = Math.fround(acc + Math.fround(av[i * 300 + p]! * bv[p * 6 + j]!));
        expect(out[i * 6 + j]).toBe(acc);
      }
    tf.dispose([a, b, c]);
  });
});
