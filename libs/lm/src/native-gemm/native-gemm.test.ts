import * as tf from '@tensorflow/tfjs-core';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend, type BackendInfo } from '../backend';
import { batchMatMulKernel } from '../wasm-kernels/batch-mat-mul';
import { fusedMatMulKernel } from '../wasm-kernels/fused-mat-mul';
import type { WasmBackend } from '../wasm-kernels/wasm-backend';
import { nativeGemmRouting, nativeGemmStats, nativeMatMul } from './kernels';
import type { NativeGemmAddon } from './load';
import { loadNativeGemm } from './load';
import { nativeGemmOptions } from './options';
import { nativeGemmStatus, registerNativeGemm, unregisterNativeGemm, withoutNativeGemm } from './register';

// The native GEMM (libs/lm/native, built by `npm install`) against emrl's wasm kernels and a float64
// product; the fallback when it cannot load; EMRL_NATIVE_GEMM=0.

const load = loadNativeGemm();

/** Whether this machine can build and run the addon: x86-64 with AVX2 + FMA, Node headers, a C++ compiler. */
function canBuildHere(): boolean {
  if (process.arch !== 'x64' || process.platform !== 'linux') return false;
  const flags = readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1]?.split(/\s+/) ?? [];
  const prefix = join(process.execPath, '../..');
  const headers = existsSync(join(prefix, 'include/node/node_api.h')) || existsSync('/usr/include/node/node_api.h');
  let cxx = true;
  try {
    execFileSync(process.env['CXX'] ?? 'g++', ['--version'], { stdio: 'ignore' });
  } catch {
    cxx = false;
  }
  return flags.includes('avx2') && flags.includes('fma') && headers && cxx;
}

let seed = 1;
/** Entries ~ N(0, k^-1/2) so that products over k terms are of order 1. */
function rand(shape: number[], k: number): tf.Tensor {
  return tf.randomNormal(shape, 0, k ** -0.25, 'float32', seed++);
}

/** float64 op(a) op(b) (+ bias [n]) with batch broadcasting of rank-3 a, b (an independent computation). */
function refMatMul(a: tf.Tensor, b: tf.Tensor, ta: boolean, tb: boolean, bias?: tf.Tensor): Float64Array {
  const av = a.dataSync();
  const bv = b.dataSync();
  const bs = bias?.dataSync();
  const [batchA, a1, a2] = a.shape as [number, number, number];
  const [batchB, b1, b2] = b.shape as [number, number, number];
  const m = ta ? a2 : a1;
  const k = ta ? a1 : a2;
  const n = tb ? b1 : b2;
  const batch = Math.max(batchA, batchB);
  const out = new Float64Array(batch * m * n);
  for (let o = 0; o < batch; o++) {
    const ia = batchA === 1 ? 0 : o;
    const ib = batchB === 1 ? 0 : o;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = bs ? bs[j]! : 0;
        for (let p = 0; p < k; p++) s += av[ia * m * k + (ta ? p * m + i : i * k + p)]! * bv[ib * k * n + (tb ? j * k + p : p * n + j)]!;
        out[o * m * n + i * n + j] = s;
      }
    }
  }
  return out;
}

function maxAbsDiff(x: ArrayLike<number>, y: ArrayLike<number>): number {
  expect(x.length).toBe(y.length);
  let d = 0;
  for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i]! - y[i]!));
  return d;
}

/** [batchA, m, k or k, m] x [batchB, k, n or n, k], transposes. */
interface Case {
  name: string;
  batchA: number;
  batchB: number;
  m: number;
  k: number;
  n: number;
  ta: boolean;
  tb: boolean;
}

const CASES: Case[] = [
  { name: '1 x 1 x 1', batchA: 1, batchB: 1, m: 1, k: 1, n: 1, ta: false, tb: false },
  { name: 'odd 7 x 13 x 5', batchA: 1, batchB: 1, m: 7, k: 13, n: 5, ta: false, tb: false },
  { name: 'transposed a', batchA: 1, batchB: 1, m: 19, k: 33, n: 23, ta: true, tb: false },
  { name: 'transposed b', batchA: 1, batchB: 1, m: 19, k: 33, n: 23, ta: false, tb: true },
  { name: 'both transposed', batchA: 1, batchB: 1, m: 17, k: 29, n: 31, ta: true, tb: true },
  { name: 'rows past the 120-row block, depth past two 256-blocks', batchA: 1, batchB: 1, m: 125, k: 517, n: 37, ta: false, tb: false },
  { name: 'columns past the 2048-column block', batchA: 1, batchB: 1, m: 7, k: 9, n: 2063, ta: false, tb: true },
  { name: 'weight gradient x^T dy', batchA: 1, batchB: 1, m: 45, k: 301, n: 67, ta: true, tb: false },
  { name: 'batch of both', batchA: 3, batchB: 3, m: 11, k: 21, n: 9, ta: false, tb: true },
  { name: 'b broadcast over a batch', batchA: 5, batchB: 1, m: 9, k: 11, n: 6, ta: true, tb: false },
  { name: 'a broadcast over b batch', batchA: 1, batchB: 4, m: 13, k: 7, n: 15, ta: false, tb: true },
];

function operands(c: Case): [tf.Tensor, tf.Tensor] {
  const a = rand(c.ta ? [c.batchA, c.k, c.m] : [c.batchA, c.m, c.k], c.k);
  const b = rand(c.tb ? [c.batchB, c.n, c.k] : [c.batchB, c.k, c.n], c.k);
  return [a, b];
}

let info: BackendInfo;
/** EMRL_NATIVE_GEMM as the suite was started (`EMRL_NATIVE_GEMM=0 npm test` runs the rest on wasm); this file tests the addon regardless. */
const envBefore = process.env['EMRL_NATIVE_GEMM'];

beforeAll(async () => {
  info = await initBackend({ prefer: 'wasm' });
  delete process.env['EMRL_NATIVE_GEMM'];
  unregisterNativeGemm();
  registerNativeGemm();
});

afterAll(() => {
  nativeGemmRouting.minMacs = 2 ** 18;
  nativeGemmRouting.minRows = 8;
  if (envBefore !== undefined) process.env['EMRL_NATIVE_GEMM'] = envBefore;
  unregisterNativeGemm();
  registerNativeGemm();
});

describe('native GEMM addon: load and fallback', () => {
  it('builds and loads on a machine that can build it (x86-64 AVX2/FMA, Node headers, C++ compiler)', () => {
    if (canBuildHere()) expect(load.ok ? 'loaded' : load.reason).toBe('loaded');
    else expect(load.ok ? '' : load.reason).not.toBe('');
  });

  it('says why when the binary is missing, is not the addon, or is not a shared object', () => {
    const dir = mkdtempSync(join(tmpdir(), 'emrl-native-gemm-'));
    const missing = loadNativeGemm(join(dir, 'emrl_native_gemm.node'));
    expect(missing.ok ? '' : missing.reason).toMatch(/^not built \(.*emrl_native_gemm\.node missing; in the emrl repo `npm install` or `npm run build:native` builds it\)$/);
    const foreign = join(dir, 'foreign.cjs');
    writeFileSync(foreign, 'module.exports = { sgemm: 1 };');
    const notAddon = loadNativeGemm(foreign);
    expect(notAddon.ok ? '' : notAddon.reason).toMatch(/is not emrl's native GEMM addon/);
    const broken = join(dir, 'broken.node');
    writeFileSync(broken, 'not an ELF file');
    const loadError = loadNativeGemm(broken);
    expect(loadError.ok ? '' : loadError.reason).toMatch(/^loading .*broken\.node failed: /);
  });

  it('keeps emrl wasm kernels and records the reason when the binary is missing', () => {
    try {
      unregisterNativeGemm();
      const status = registerNativeGemm(join(tmpdir(), 'no-such-dir', 'emrl_native_gemm.node'));
      expect(status).toEqual({ used: false, reason: expect.stringMatching(/^not built/), threads: 1 });
      expect(tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc).toBe(batchMatMulKernel);
      expect(tf.getKernel('_FusedMatMul', 'wasm')!.kernelFunc).toBe(fusedMatMulKernel);
    } finally {
      unregisterNativeGemm();
      registerNativeGemm();
    }
  });

  it('EMRL_NATIVE_GEMM=0 leaves the wasm kernels: no product reaches the addon', () => {
    try {
      unregisterNativeGemm();
      process.env['EMRL_NATIVE_GEMM'] = '0';
      expect(registerNativeGemm()).toEqual({ used: false, reason: 'EMRL_NATIVE_GEMM=0', threads: 1 });
      expect(tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc).toBe(batchMatMulKernel);
      expect(tf.getKernel('_FusedMatMul', 'wasm')!.kernelFunc).toBe(fusedMatMulKernel);
      const calls = nativeGemmStats.calls;
      tf.tidy(() => tf.matMul(rand([300, 200], 200), rand([200, 100], 200)).dataSync());
      expect(nativeGemmStats.calls).toBe(calls);
    } finally {
      delete process.env['EMRL_NATIVE_GEMM'];
      unregisterNativeGemm();
      registerNativeGemm();
    }
  });

  it('rejects malformed EMRL_NATIVE_GEMM / EMRL_NATIVE_GEMM_THREADS naming the variable and the fix', () => {
    expect(nativeGemmOptions({})).toEqual({ enabled: true, threads: 1 });
    expect(nativeGemmOptions({ EMRL_NATIVE_GEMM: '0', EMRL_NATIVE_GEMM_THREADS: '2' })).toEqual({ enabled: false, threads: 2 });
    expect(() => nativeGemmOptions({ EMRL_NATIVE_GEMM: 'off' })).toThrow(/EMRL_NATIVE_GEMM="off": expected 0 \(off\) or 1/);
    expect(() => nativeGemmOptions({ EMRL_NATIVE_GEMM_THREADS: '4' })).toThrow(/EMRL_NATIVE_GEMM_THREADS="4": expected 1 .* or 2/);
  });
});

// Without the addon (another CPU, no compiler) these comparisons cannot run; instead of skipping,
// the block then checks that this machine really cannot build it and that the wasm kernels serve.
const whenNotLoadable = (): void => {
  it(`cannot compare here (${load.ok ? '' : load.reason}): this machine cannot build the addon, and the wasm kernels run`, () => {
    expect(canBuildHere()).toBe(false);
    expect(nativeGemmStatus().used).toBe(false);
    expect(tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc).toBe(batchMatMulKernel);
  });
};

describe("native GEMM vs emrl's wasm kernels, to 1e-5", !load.ok ? whenNotLoadable : () => {
  beforeAll(() => {
    nativeGemmRouting.minMacs = 0; // every product to the addon, however small
    nativeGemmRouting.minRows = 0;
  });

  it('the run record says it ran (BackendInfo.nativeGemm)', () => {
    expect(info.nativeGemm).toEqual(envBefore === '0' ? { used: false, reason: 'EMRL_NATIVE_GEMM=0', threads: 1 } : { used: true, threads: 1 });
    expect(nativeGemmStatus()).toEqual({ used: true, threads: 1 });
  });

  for (const c of CASES) {
    it(`BatchMatMul ${c.name}: [${c.batchA}] ${c.m} x ${c.k} x ${c.n} transA ${c.ta} transB ${c.tb}`, () => {
      tf.tidy(() => {
        const [a, b] = operands(c);
        const calls = nativeGemmStats.calls;
        const native = tf.matMul(a, b, c.ta, c.tb);
        expect(nativeGemmStats.calls).toBe(calls + 1);
        const wasm = withoutNativeGemm(() => tf.matMul(a, b, c.ta, c.tb));
        expect(nativeGemmStats.calls).toBe(calls + 1);
        expect(native.shape).toEqual([Math.max(c.batchA, c.batchB), c.m, c.n]);
        expect(maxAbsDiff(native.dataSync(), wasm.dataSync())).toBeLessThan(1e-5);
        expect(maxAbsDiff(native.dataSync(), refMatMul(a, b, c.ta, c.tb))).toBeLessThan(1e-5);
      });
    });
  }

  it('rank-4 batch broadcasting [2, 3, m, k] x [3, k, n]', () => {
    tf.tidy(() => {
      const a = rand([2, 3, 10, 14], 14);
      const b = rand([3, 14, 12], 14);
      const native = tf.matMul(a, b);
      const wasm = withoutNativeGemm(() => tf.matMul(a, b));
      expect(native.shape).toEqual([2, 3, 10, 12]);
      expect(maxAbsDiff(native.dataSync(), wasm.dataSync())).toBeLessThan(1e-5);
      const ref = refMatMul(tf.reshape(a, [6, 10, 14]), tf.tile(b, [2, 1, 1]), false, false);
      expect(maxAbsDiff(native.dataSync(), ref)).toBeLessThan(1e-5);
    });
  });

  for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
    it(`_FusedMatMul bias [n], transA ${ta} transB ${tb} (in the addon)`, () => {
      tf.tidy(() => {
        const c: Case = { name: 'fused', batchA: 2, batchB: 1, m: 23, k: 37, n: 29, ta, tb };
        const [a, b] = operands(c);
        const bias = rand([c.n], 1);
        const calls = nativeGemmStats.calls;
        const native = tf.fused.matMul({ a, b, bias, transposeA: ta, transposeB: tb });
        expect(nativeGemmStats.calls).toBe(calls + 1);
        const wasm = withoutNativeGemm(() => tf.fused.matMul({ a, b, bias, transposeA: ta, transposeB: tb }));
        expect(maxAbsDiff(native.dataSync(), wasm.dataSync())).toBeLessThan(1e-5);
        expect(maxAbsDiff(native.dataSync(), refMatMul(a, b, ta, tb, bias))).toBeLessThan(1e-5);
      });
    });
  }

  it('_FusedMatMul with an activation stays on the wasm kernel and matches', () => {
    tf.tidy(() => {
      const a = rand([1, 15, 21], 21);
      const b = rand([1, 21, 17], 21);
      const bias = rand([17], 1);
      const ref = refMatMul(a, b, false, false, bias);
      const acts = { relu: (x: number) => Math.max(0, x), sigmoid: (x: number) => 1 / (1 + Math.exp(-x)) };
      for (const [activation, f] of Object.entries(acts) as ['relu' | 'sigmoid', (x: number) => number][]) {
        const calls = nativeGemmStats.calls;
        const got = tf.fused.matMul({ a, b, bias, activation }).dataSync();
        expect(nativeGemmStats.calls).toBe(calls);
        expect(maxAbsDiff(got, ref.map(f))).toBeLessThan(1e-5);
      }
    });
  });

  it('gradients through the native products match wasm', () => {
    tf.tidy(() => {
      const x = rand([120, 50], 50);
      const w = rand([50, 60], 50);
      const bias = rand([60], 1);
      const loss = (xx: tf.Tensor, ww: tf.Tensor): tf.Scalar => tf.sum(tf.square(tf.fused.matMul({ a: xx as tf.Tensor2D, b: ww as tf.Tensor2D, bias })));
      const g = tf.grads(loss);
      const calls = nativeGemmStats.calls;
      const native = g([x, w]);
      expect(nativeGemmStats.calls).toBeGreaterThan(calls);
      const wasm = withoutNativeGemm(() => g([x, w]));
      for (let i = 0; i < 2; i++) {
        const scale = tf.max(tf.abs(wasm[i]!)).dataSync()[0]!;
        expect(maxAbsDiff(native[i]!.dataSync(), wasm[i]!.dataSync()) / scale).toBeLessThan(1e-5);
      }
    });
  });

  it('EMRL_NATIVE_GEMM_THREADS=2: two threads per product, bit-identical to one', () => {
    const before = process.env['EMRL_NATIVE_GEMM_THREADS'];
    tf.tidy(() => {
      const a = rand([2, 130, 300], 300);
      const b = rand([1, 300, 70], 300);
      const c = rand([300, 200], 300);
      const d = rand([200, 90], 300);
      const one = [tf.matMul(a, b).dataSync(), tf.matMul(c, d).dataSync()]; // batch split, column split
      try {
        unregisterNativeGemm();
        process.env['EMRL_NATIVE_GEMM_THREADS'] = '2';
        expect(registerNativeGemm()).toEqual({ used: true, threads: 2 });
        const calls = nativeGemmStats.calls;
        const two = [tf.matMul(a, b).dataSync(), tf.matMul(c, d).dataSync()];
        expect(nativeGemmStats.calls).toBe(calls + 2);
        expect(Array.from(two[0]!)).toEqual(Array.from(one[0]!));
        expect(Array.from(two[1]!)).toEqual(Array.from(one[1]!));
      } finally {
        if (before === undefined) delete process.env['EMRL_NATIVE_GEMM_THREADS'];
        else process.env['EMRL_NATIVE_GEMM_THREADS'] = before;
        unregisterNativeGemm();
        registerNativeGemm();
      }
    });
  });

  it('default routing: products up to 2^18 multiply-adds per entry stay on wasm, larger ones run in the addon', () => {
    nativeGemmRouting.minMacs = 2 ** 18;
    try {
      tf.tidy(() => {
        let calls = nativeGemmStats.calls;
        tf.matMul(rand([256, 51, 24], 24), rand([256, 51, 24], 24), false, true).dataSync(); // 62k MACs: wasm
        expect(nativeGemmStats.calls).toBe(calls);
        tf.matMul(rand([64, 96], 96), rand([96, 384], 96)).dataSync(); // 2.4M MACs: native
        expect(nativeGemmStats.calls).toBe(++calls);
      });
    } finally {
      nativeGemmRouting.minMacs = 0;
    }
  });

  it('default routing: decoding-like products (fewer than 8 rows on an untransposed weight) stay on wasm; transposed weights and 8+ rows run in the addon', () => {
    nativeGemmRouting.minMacs = 2 ** 18;
    nativeGemmRouting.minRows = 8;
    try {
      tf.tidy(() => {
        let calls = nativeGemmStats.calls;
        const w = rand([512, 640], 512); // 4 x 512 x 640 = 1.3M MACs: over minMacs
        const x4 = rand([4, 512], 512);
        const want = refMatMul(tf.reshape(x4, [1, 4, 512]), tf.reshape(w, [1, 512, 640]), false, false);
        const small = tf.matMul(x4, w);
        expect(nativeGemmStats.calls).toBe(calls); // 4 rows: wasm
        expect(maxAbsDiff(small.dataSync(), want)).toBeLessThan(1e-5);
        tf.fused.matMul({ a: rand([1, 4, 512], 512), b: tf.reshape(w, [1, 512, 640]), bias: rand([640], 1) }).dataSync(); // _FusedMatMul, 4 rows: wasm
        expect(nativeGemmStats.calls).toBe(calls);
        tf.matMul(rand([2, 3, 512], 512), w).dataSync(); // a shared weight: 2 x 3 = 6 rows in all: wasm
        expect(nativeGemmStats.calls).toBe(calls);
        tf.matMul(rand([8, 512], 512), w).dataSync(); // 8 rows: native
        expect(nativeGemmStats.calls).toBe(++calls);
        const wt = rand([640, 512], 512);
        const head = tf.matMul(x4, wt, false, true); // x W^T (a tied head read in place): native at any row count
        expect(nativeGemmStats.calls).toBe(++calls);
        expect(maxAbsDiff(head.dataSync(), refMatMul(tf.reshape(x4, [1, 4, 512]), tf.reshape(wt, [1, 640, 512]), false, true))).toBeLessThan(1e-5);
      });
    } finally {
      nativeGemmRouting.minMacs = 0;
      nativeGemmRouting.minRows = 0;
    }
  });
});

describe('native GEMM heap offsets', () => {
  it('tensors past 2 GiB of heap are addressed by unsigned float offsets (the 24-layer Qwen2.5-0.5B run had negative ones)', () => {
    const GiB = 2 ** 30;
    const offsets = new Map<object, number>();
    const tensor = (shape: number[], byteOffset: number): tf.TensorInfo => {
      const dataId = {};
      offsets.set(dataId, byteOffset);
      return { dataId, shape, dtype: 'float32' };
    };
    const backend = {
      dataIdMap: { get: (id: object) => ({ memoryOffset: offsets.get(id)! }) },
      makeOutput: (shape: number[]) => tensor(shape, 3.5 * GiB),
      wasm: { HEAPF32: new Float32Array(4) },
    } as unknown as WasmBackend;
    const seen: { offsets: number[]; bias: number }[] = [];
    const addon = {
      sgemm: (_heap: Float32Array, o: Int32Array, _m: number, _n: number, _k: number, _ta: boolean, _tb: boolean, _threads: number, bias: number) => seen.push({ offsets: [...o], bias }),
      cpuSupported: () => true,
    } as NativeGemmAddon;
    const a = tensor([2, 3, 4], 2 * GiB + 64); // two batch entries
    const b = tensor([1, 4, 5], 3 * GiB);
    const bias = tensor([5], 2 * GiB - 16);
    nativeMatMul(addon, backend, a, b, false, false, 1, bias);
    expect(seen).toEqual([
      {
        offsets: [(2 * GiB + 64) / 4, (3 * GiB) / 4, (3.5 * GiB) / 4, (2 * GiB + 64) / 4 + 12, (3 * GiB) / 4, (3.5 * GiB) / 4 + 15],
        bias: (2 * GiB - 16) / 4,
      },
    ]);
  });
});
