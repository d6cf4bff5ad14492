import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineModelConfig, type ModelConfigInput } from '../config';
import { setupTestBackend } from '../testing';
import { groupedAttention } from './attention';
import { CausalLM } from './causal-lm';
import { decodeAttention, fusedActivation, fusedDecodingAvailable, fusedLinear, fusedNorm, fusedSwiGlu } from './decode-kernels';
import { loadNativeGemm, nativeGemmRouting, nativeGemmStats, nativeGemmStatus, withoutNativeGemm } from '../native-gemm';
import { LARGE_WEIGHT_FLOATS, simdGemmRouting } from '../wasm-kernels/batch-mat-mul';
import { KVCache } from './kv-cache';
import { gelu, geluNew, layerNorm, linear, rmsNorm, silu } from './layers';
import { attentionBias } from './masks';
import { applyRope, ropeTables } from './rope';

let mainBackend = 'wasm';
beforeAll(async () => {
  mainBackend = (await setupTestBackend()).tfjsBackend;
});

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

/** Runs `fn` on each in-place backend (the test backend, then cpu) and restores the test backend. */
async function onEachBackend(fn: (backend: string) => void): Promise<void> {
  for (const name of [...new Set([mainBackend, 'cpu'])]) {
    await tf.setBackend(name);
    try {
      fn(name);
    } finally {
      await tf.setBackend(mainBackend);
    }
  }
}

describe('fused decoding kernels', () => {
  it('one attention step on the cache equals scale + RoPE + groupedAttention over the concatenated keys (GQA 8 on 2, left padding)', async () => {
    await onEachBackend((backend) => {
      expect(fusedDecodingAvailable()).toBe(true);
      tf.tidy(() => {
        const [b, h, hkv, hd, past, cap] = [2, 8, 2, 6, 4, 7];
        const q = tf.randomNormal([b, h, hd], 0, 1, 'float32', 1) as tf.Tensor3D;
        const k = tf.randomNormal([b, hkv, hd], 0, 1, 'float32', 2) as tf.Tensor3D;
        const v = tf.randomNormal([b, hkv, hd], 0, 1, 'float32', 3) as tf.Tensor3D;
        const kPast = tf.randomNormal([b, hkv, past, hd], 0, 1, 'float32', 4) as tf.Tensor4D;
        const vPast = tf.randomNormal([b, hkv, past, hd], 0, 1, 'float32', 5) as tf.Tensor4D;
        const mask = tf.tensor2d([0, 0, 1, 1, 1, 1, 1, 1, 1, 1], [b, past + 1]); // row 0 left-padded
        const bias = attentionBias(mask, 1);
        const rope = ropeTables(tf.tensor1d([2, 4], 'int32'), hd, 10000);
        const scale = 1 / Math.sqrt(hd);
        // Reference: the unfused op chain of attention.ts.
        const qr = applyRope(tf.mul(q, scale), rope.cos, rope.sin);
        const kr = applyRope(k, rope.cos, rope.sin);
        const kAll = tf.concat([kPast, tf.reshape(kr, [b, hkv, 1, hd])], 2) as tf.Tensor4D;
        const vAll = tf.concat([vPast, tf.reshape(v, [b, hkv, 1, hd])], 2) as tf.Tensor4D;
        const want = tf.reshape(groupedAttention(tf.reshape(qr, [b, h, 1, hd]), kAll, vAll, bias), [b, h, hd]);
        // Fused: cache buffers with the past filled in and room for 2 more positions.
        const pad = tf.zeros([b, hkv, cap - past, hd]);
        const kCache = tf.transpose(tf.concat([kPast, pad], 2), [0, 1, 3, 2]) as tf.Tensor4D; // keys stored [B, Hkv, hd, cap]
        const vCache = tf.concat([vPast, pad], 2) as tf.Tensor4D;
        const attrs = { heads: h, kvHeads: hkv, headDim: hd, pos: past, scale };
        const got = decodeAttention({ q, k, v, kCache, vCache, bias, rope }, attrs);
        expect(got.shape).toEqual([b, h * hd]);
        expect(maxAbsDiff(tf.reshape(got, [b, h, hd]), want), backend).toBeLessThan(1e-5);
        // The step wrote the rotated key and the value at position `past`, in place.
        const keys = tf.transpose(kCache, [0, 1, 3, 2]);
        expect(maxAbsDiff(tf.slice(keys, [0, 0, 0, 0], [-1, -1, past + 1, -1]), kAll), backend).toBeLessThan(1e-6);
        expect(maxAbsDiff(tf.slice(vCache, [0, 0, 0, 0], [-1, -1, past + 1, -1]), vAll), backend).toBe(0);
        expect(maxAbsDiff(tf.slice(keys, [0, 0, past + 1, 0], [-1, -1, -1, -1]), tf.zeros([b, hkv, cap - past - 1, hd])), backend).toBe(0);
        // GPT-2's packed c_attn output [B, (H + 2 Hkv) hd] gives the same step (rewriting position `past`).
        const qkv = tf.concat([tf.reshape(q, [b, h * hd]), tf.reshape(k, [b, hkv * hd]), tf.reshape(v, [b, hkv * hd])], 1);
        const packed = decodeAttention({ qkv, kCache, vCache, bias, rope }, attrs);
        expect(maxAbsDiff(packed, got), backend).toBe(0);
      });
    });
  });

  it('LayerNorm, RMSNorm, GELU (both forms), SwiGLU and linear equal the tfjs op chains of layers.ts within 1e-5', async () => {
    await onEachBackend((backend) => {
      fusedDecodingAvailable();
      tf.tidy(() => {
        const x = tf.mul(tf.randomNormal([5, 24], 0, 1, 'float32', 7), 3) as tf.Tensor2D;
        const up = tf.randomNormal([5, 24], 0, 1, 'float32', 8) as tf.Tensor2D;
        const gamma = tf.randomNormal([24], 1, 0.2, 'float32', 9) as tf.Tensor1D;
        const beta = tf.randomNormal([24], 0, 0.2, 'float32', 10) as tf.Tensor1D;
        expect(maxAbsDiff(fusedNorm(x, gamma, beta, 1e-5), layerNorm(x, gamma, beta, 1e-5)), backend).toBeLessThan(1e-5);
        expect(maxAbsDiff(fusedNorm(x, gamma, null, 1e-6), rmsNorm(x, gamma, 1e-6)), backend).toBeLessThan(1e-5);
        expect(maxAbsDiff(fusedActivation(x, 'gelu_new'), geluNew(x)), backend).toBeLessThan(1e-5);
        expect(maxAbsDiff(fusedActivation(x, 'gelu'), gelu(x)), backend).toBeLessThan(1e-5);
        expect(maxAbsDiff(fusedSwiGlu(x, up), tf.mul(silu(x), up)), backend).toBeLessThan(1e-5);
        const w = tf.randomNormal([24, 10], 0, 1, 'float32', 11) as tf.Tensor2D;
        const wb = tf.randomNormal([10], 0, 1, 'float32', 12) as tf.Tensor1D;
        expect(maxAbsDiff(fusedLinear(x, w, wb), linear(x, w, wb)), backend).toBeLessThan(1e-5);
        expect(fusedLinear(x, w).shape).toEqual([5, 10]);
        expect(maxAbsDiff(fusedLinear(x, w), tf.matMul(x, w)), backend).toBeLessThan(1e-5);
      });
    });
  });

  it('a linear of few rows (the direct XNNPACK call on wasm) equals the registered _FusedMatMul kernel bit for bit, with and without bias', async () => {
    await onEachBackend((backend) => {
      expect(fusedDecodingAvailable()).toBe(true);
      tf.tidy(() => {
        for (const rows of [1, 3, 7]) {
          const x = tf.randomNormal([rows, 96], 0, 1, 'float32', 20 + rows) as tf.Tensor2D;
          const w = tf.randomNormal([96, 288], 0, 0.2, 'float32', 21) as tf.Tensor2D;
          const bias = tf.randomNormal([288], 0, 0.2, 'float32', 22) as tf.Tensor1D;
          // tf.fused.matMul dispatches the registered kernel chain (native hook, wasm fix, stock ccall).
          const viaKernel = tf.fused.matMul({ a: x, b: w, bias });
          expect(Array.from(fusedLinear(x, w, bias).dataSync()), `${backend} rows ${rows}`).toEqual(Array.from(viaKernel.dataSync()));
          expect(Array.from(fusedLinear(x, w).dataSync()), `${backend} rows ${rows}`).toEqual(Array.from(tf.fused.matMul({ a: x, b: w }).dataSync()));
          expect(fusedLinear(x, w, bias).shape).toEqual([rows, 288]);
        }
      });
    });
  });
});

const TINY = { vocabSize: 64, hiddenSize: 32, numLayers: 2, numHeads: 4, maxPositions: 64, padTokenId: 0, eosTokenId: 2 };
const FAMILIES: [string, ModelConfigInput][] = [
  ['gpt2 (gelu_new)', { family: 'gpt2', ...TINY }],
  ['gpt2 (exact erf GELU)', { family: 'gpt2', ...TINY, activation: 'gelu' }],
  ['qwen2 (GQA 4 on 2, RoPE, q/k/v bias)', { family: 'llama', modelType: 'qwen2', ...TINY, numKvHeads: 2, attentionBias: true }],
  ['qwen3 (qk-norm, head dim 16 != D/H)', { family: 'llama', modelType: 'qwen3', ...TINY, numKvHeads: 2, qkNorm: true, headDim: 16, tieWordEmbeddings: false }],
  ['llama (linear rope scaling, untied head, biases)', { family: 'llama', modelType: 'llama', ...TINY, numKvHeads: 1, attentionBias: true, attentionOutBias: true, mlpBias: true, ropeScaling: { type: 'linear', factor: 2 }, tieWordEmbeddings: false }],
  ['qwen2 (sliding window 3 on layer 1)', { family: 'llama', modelType: 'qwen2', ...TINY, numKvHeads: 2, slidingWindow: 3, maxWindowLayers: 1 }],
];

/** Scales every matrix by 8 so logits are peaked (a near-uniform random model would hide errors). */
function peakedModel(input: ModelConfigInput): CausalLM {
  const model = CausalLM.init(defineModelConfig(input, 'decode-kernels.test'), 3);
  for (const w of model.weights.values()) if (w.rank === 2) w.assign(tf.tidy(() => tf.mul(w, 8)));
  return model;
}

describe.each(FAMILIES)('fused decoding in CausalLM: %s', (_name, input) => {
  let model: CausalLM;
  beforeAll(() => {
    model = peakedModel(input);
  });
  afterAll(() => model.dispose());

  it('logits of every decoding step equal the unfused cache (concatenated, tfjs ops) within 1e-5, through a cache that grows', () => {
    expect(compareSteps(model)).toBeLessThan(1e-5);
  });

  it('with a LoRA adapter (per-op fused path: fused linear, norms, attention on the projections) too', () => {
    const m = model.clone();
    try {
      const targets = m.config.family === 'gpt2' ? ['c_attn', 'c_proj', 'c_fc'] : ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
      m.attachLora({ r: 2, alpha: 4, targetModules: targets }, 1);
      // PEFT init makes B = 0 (no update): give every adapter matrix seeded values.
      m.trainableVariables().forEach((v, i) => v.assign(tf.tidy(() => tf.randomNormal(v.shape, 0, 0.1, 'float32', 100 + i))));
      const ids = tf.tensor2d([[3, 4, 5]], [1, 3], 'int32');
      const change = tf.tidy(() => maxAbsDiff(m.forward(ids), model.forward(ids)));
      ids.dispose();
      expect(change).toBeGreaterThan(0.1); // the adapter changes the logits
      expect(compareSteps(m)).toBeLessThan(1e-5);
    } finally {
      m.dispose();
    }
  });
});

describe('fused decoding step input checks', () => {
  it('a token id outside the vocabulary is an error naming it, not a silent row of another token', () => {
    const model = peakedModel(FAMILIES[0]![1]);
    const cache = new KVCache(model.config.numLayers);
    try {
      tf.tidy(() => model.forward(tf.tensor2d([[3, 4]], [1, 2], 'int32'), { cache }));
      expect(() => tf.tidy(() => model.forward(tf.tensor2d([[64]], [1, 1], 'int32'), { cache }))).toThrow(/token id 64 \(row 0\) is outside the vocabulary \[0, 64\)/);
    } finally {
      cache.dispose();
      model.dispose();
    }
  });
});

/** Max |fused - unfused| over the logits of a left-padded prefill and 5 decoding steps (3 rows). */
function compareSteps(model: CausalLM, inspect?: (fused: KVCache) => void): number {
    const t2 = (rows: number[][]): tf.Tensor2D => tf.tensor2d(rows.flat(), [rows.length, rows[0]!.length], 'int32');
    const ids = [[0, 0, 3, 4, 5], [6, 7, 8, 9, 10], [0, 0, 0, 0, 11]];
    const mask = [[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 1]];
    const next = [[11, 12, 13, 14, 15], [16, 17, 18, 19, 20], [21, 22, 23, 24, 25]];
    const fused = new KVCache(model.config.numLayers, { capacity: 6 }); // grows at the 2nd step
    const plain = new KVCache(model.config.numLayers, { fused: false });
    expect(fused.fused).toBe(true);
    expect(plain.fused).toBe(false);
    try {
      const run = (cache: KVCache, rows: number[][], m: number[][]): tf.Tensor3D => model.forward(t2(rows), { attentionMask: t2(m), cache, lastPositionOnly: true });
      let worst = 0;
      let spread = 0;
      tf.tidy(() => {
        worst = Math.max(worst, maxAbsDiff(run(fused, ids, mask), run(plain, ids, mask)));
      });
      for (let s = 0; s < next[0]!.length; s++) {
        const col = next.map((r) => [r[s]!]);
        const ones = next.map(() => [1]);
        tf.tidy(() => {
          const a = run(fused, col, ones);
          const b = run(plain, col, ones);
          worst = Math.max(worst, maxAbsDiff(a, b));
          spread = Math.max(spread, tf.tidy(() => tf.sub(tf.max(b), tf.min(b)).dataSync()[0]!));
        });
      }
      expect(fused.length).toBe(10);
      expect(plain.length).toBe(10);
      expect(spread).toBeGreaterThan(1); // logits are not flat, so the comparison means something
      inspect?.(fused);
      return worst;
    } finally {
      fused.dispose();
      plain.dispose();
    }
}

const NATIVE_RUNS = loadNativeGemm().ok && process.env['EMRL_NATIVE_GEMM'] !== '0';

// The tied head of a large vocabulary (Qwen2.5-0.5B: [151936, 896]) is read transposed in place by
// the large-weight GEMM instead of a transposed copy per cache (+545 MB); small heads keep the copy
// (XNNPACK packs it once). Tiny shapes stand in for the real ones by lowering the thresholds.
describe.each(FAMILIES.filter(([, input]) => input.tieWordEmbeddings !== false).slice(0, 3))('fused decoding with a large tied head: %s', (_name, input) => {
  let model: CausalLM;
  beforeAll(() => {
    model = peakedModel(input);
  });
  afterAll(() => {
    simdGemmRouting.largeWeightFloats = LARGE_WEIGHT_FLOATS;
    model.dispose();
  });
  const headFloats = (): number => model.config.vocabSize * model.config.hiddenSize;

  it('a small head keeps its transposed copy in the cache', () => {
    simdGemmRouting.largeWeightFloats = LARGE_WEIGHT_FLOATS;
    expect(headFloats()).toBeLessThan(LARGE_WEIGHT_FLOATS);
    expect(compareSteps(model, (fused) => expect(fused.hasDerived('tiedHeadT')).toBe(true))).toBeLessThan(1e-5);
  });

  it('a large head is read in place (no copy in the cache) and equals the unfused cache within 1e-5: SIMD GEMM route, and cpu', async () => {
    simdGemmRouting.largeWeightFloats = headFloats();
    try {
      await onEachBackend(() => {
        withoutNativeGemm(() => {
          expect(compareSteps(model, (fused) => expect(fused.hasDerived('tiedHeadT')).toBe(false))).toBeLessThan(1e-5);
        });
      });
    } finally {
      simdGemmRouting.largeWeightFloats = LARGE_WEIGHT_FLOATS;
    }
  });

  it.runIf(NATIVE_RUNS)(`a large head on the native GEMM (every product sent to it) too${NATIVE_RUNS ? '' : ' (cannot run: addon not loadable or EMRL_NATIVE_GEMM=0)'}`, () => {
    expect(nativeGemmStatus().used).toBe(mainBackend === 'wasm');
    const minMacs = nativeGemmRouting.minMacs;
    simdGemmRouting.largeWeightFloats = headFloats();
    nativeGemmRouting.minMacs = 0;
    try {
      const before = nativeGemmStats.calls;
      expect(compareSteps(model, (fused) => expect(fused.hasDerived('tiedHeadT')).toBe(false))).toBeLessThan(1e-5);
      expect(nativeGemmStats.calls).toBeGreaterThan(before);
    } finally {
      nativeGemmRouting.minMacs = minMacs;
      simdGemmRouting.largeWeightFloats = LARGE_WEIGHT_FLOATS;
    }
  });
});
