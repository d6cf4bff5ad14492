// LoRA dropout (PEFT's lora_dropout): train mode only, deterministic masks that depend on (seed,
// module, absolute row, position id, feature) and on nothing else, inverted scaling, gradients.
import * as tf from '@tensorflow/tfjs-core';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPretrained, type Pretrained } from '../checkpoint/pretrained';
import { generate } from '../generation/generate';
import type { CausalLM, ForwardOptions } from '../model/causal-lm';
import { setupTestBackend } from '../testing';
import { loraDropoutMask, type TrainingMode } from './lora-dropout';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures');
const IDS = [
  [256, 116, 104, 101, 32, 99, 97, 116],
  [5, 100, 200, 17, 258, 50, 150, 250],
  [7, 8, 9, 10, 11, 12, 13, 14],
];
const TARGETS = ['q_proj', 'v_proj', 'down_proj'];
const TRAIN: TrainingMode = { seed: 1234, rowOffset: 0 };

let llama: Pretrained;
beforeAll(async () => {
  await setupTestBackend();
  llama = await loadPretrained(join(FIXTURES, 'tiny-llama3'));
});
afterAll(() => llama?.model.dispose());

/** The base with an adapter of this dropout whose A and B are random (the same for every p). */
function withLora(p: number): CausalLM {
  const m = llama.model.clone();
  const lora = m.attachLora({ r: 3, alpha: 6, dropout: p, targetModules: TARGETS }, 5);
  let s = 5;
  for (const pair of lora.pairs.values()) pair.b.assign(tf.randomNormal(pair.b.shape, 0, 0.3, 'float32', s++));
  return m;
}

function logits(m: CausalLM, ids: number[][], opts: ForwardOptions = {}, mask?: number[][]): Float32Array {
  return tf.tidy(() => {
    const t = ids[0]!.length;
    const attentionMask = mask ? tf.tensor2d(mask, [ids.length, t], 'int32') : undefined;
    return m.forward(tf.tensor2d(ids, [ids.length, t], 'int32'), { ...opts, attentionMask }).dataSync() as Float32Array;
  });
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

describe('loraDropoutMask', () => {
  const ctx = (rows: number[], positions: number[], seed = 9) => ({ seed, rows: Int32Array.from(rows), positions: Int32Array.from(positions) });

  it('keeps a share 1 - p of the entries, scaled by 1 / (1 - p), so its mean is ~1', () => {
    for (const p of [0.1, 0.5, 0.9]) {
      const n = 200;
      const m = loraDropoutMask(p, 'model.layers.0.self_attn.q_proj', ctx([...Array(n).keys()].map((i) => i % 7), [...Array(n).keys()]), 500);
      const kept = m.filter((v) => v !== 0);
      expect(new Set(kept).size).toBe(1);
      expect(kept[0]).toBeCloseTo(1 / (1 - p), 6);
      const share = kept.length / m.length;
      const sigma = Math.sqrt((p * (1 - p)) / m.length);
      expect(Math.abs(share - (1 - p))).toBeLessThan(5 * sigma);
      const mean = m.reduce((s, v) => s + v, 0) / m.length;
      expect(Math.abs(mean - 1)).toBeLessThan((5 * sigma) / (1 - p));
    }
  });

  it('p = 0 keeps everything; entries are a function of (seed, module, row, position, feature) only', () => {
    expect(loraDropoutMask(0, 'm', ctx([0, 1], [0, 0]), 8).every((v) => v === 1)).toBe(true);
    const all = loraDropoutMask(0.5, 'm', ctx([0, 0, 1, 1], [0, 1, 0, 1]), 16);
    const row1 = loraDropoutMask(0.5, 'm', ctx([1, 1], [0, 1]), 16);
    expect(Array.from(all.subarray(32))).toEqual(Array.from(row1)); // split into micro-batches: same masks
    const again = loraDropoutMask(0.5, 'm', ctx([0, 0, 1, 1], [0, 1, 0, 1]), 16);
    expect(Array.from(again)).toEqual(Array.from(all));
    const other = (c: ReturnType<typeof ctx>, module = 'm') => maxDiff(loraDropoutMask(0.5, module, c, 16), all) > 0;
    expect(other(ctx([0, 0, 1, 1], [0, 1, 0, 1], 10))).toBe(true); // another seed
    expect(other(ctx([0, 0, 1, 1], [0, 1, 0, 1]), 'n')).toBe(true); // another module
    expect(other(ctx([2, 2, 3, 3], [0, 1, 0, 1]))).toBe(true); // other rows
    expect(other(ctx([0, 0, 1, 1], [1, 2, 1, 2]))).toBe(true); // other positions
  });
});

describe('LoRA dropout in a forward pass', () => {
  it('acts only in train mode: eval forwards and generation ignore it', async () => {
    const off = withLora(0);
    const on = withLora(0.5);
    try {
      expect(maxDiff(logits(on, IDS), logits(off, IDS))).toBe(0);
      expect(maxDiff(logits(on, IDS, { training: TRAIN }), logits(off, IDS))).toBeGreaterThan(1e-3);
      const g = async (m: CausalLM) => generate(m, [IDS[0]!, IDS[1]!], { maxNewTokens: 6, temperature: 1, seed: 3 });
      const [a, b] = [await g(on), await g(off)];
      expect(a.tokens).toEqual(b.tokens);
      expect(a.logprobs).toEqual(b.logprobs);
    } finally {
      on.dispose();
      off.dispose();
    }
  });

  it('dropout 0 in train mode equals eval bit for bit', () => {
    const m = withLora(0);
    try {
      expect(maxDiff(logits(m, IDS, { training: TRAIN }), logits(m, IDS))).toBe(0);
    } finally {
      m.dispose();
    }
  });

  it('one module equals dropout(x) @ A @ B * scale computed by hand with the same mask', () => {
    const m = withLora(0.3);
    try {
      const lora = m.getLora()!;
      const module = 'model.layers.1.self_attn.v_proj';
      const pair = lora.pairs.get(module)!;
      const [inDim, r] = pair.a.shape as [number, number];
      const outDim = pair.b.shape[1]!;
      const rows = { seed: 77, rows: Int32Array.from([3, 3, 4]), positions: Int32Array.from([0, 1, 0]) };
      const x = Float32Array.from({ length: 3 * inDim }, (_, i) => Math.sin(i + 0.5));
      const got = tf.tidy(() => lora.delta(tf.tensor2d(x, [3, inDim]), module, rows)!.dataSync());
      const mask = loraDropoutMask(0.3, module, rows, inDim);
      const a = pair.a.dataSync();
      const b = pair.b.dataSync();
      for (let n = 0; n < 3; n++) {
        for (let o = 0; o < outDim; o++) {
          let y = 0;
          for (let k = 0; k < r; k++) {
            let xa = 0;
            for (let f = 0; f < inDim; f++) xa += x[n * inDim + f]! * mask[n * inDim + f]! * a[f * r + k]!;
            y += xa * b[k * outDim + o]!;
          }
          expect(Math.abs(got[n * outDim + o]! - y * lora.scale)).toBeLessThan(1e-5);
        }
      }
    } finally {
      m.dispose();
    }
  });

  it('masks follow absolute rows and position ids: micro-batch split and left padding do not change them', () => {
    const m = withLora(0.5);
    try {
      const v = llama.model.config.vocabSize;
      const T = IDS[0]!.length;
      const whole = logits(m, IDS, { training: TRAIN });
      const last = logits(m, [IDS[2]!], { training: { ...TRAIN, rowOffset: 2 } });
      expect(maxDiff(last, whole.subarray(2 * T * v))).toBeLessThan(1e-5);
      // Row 2 left-padded by 2: same position ids for its tokens, so the same masks.
      const padded = logits(m, [[0, 0, ...IDS[2]!]], { training: { ...TRAIN, rowOffset: 2 } }, [[0, 0, ...IDS[2]!.map(() => 1)]]);
      expect(maxDiff(padded.subarray(2 * v), last)).toBeLessThan(1e-5);
      // The row offset matters: row 2 drawn as row 0 gets other masks.
      expect(maxDiff(logits(m, [IDS[2]!], { training: TRAIN }), last)).toBeGreaterThan(1e-4);
    } finally {
      m.dispose();
    }
  });

  it('gradients w.r.t. A and B match central finite differences with the mask fixed', () => {
    const m = withLora(0.4);
    const loss = (): tf.Scalar =>
      tf.tidy(() => {
        const lg = m.forward(tf.tensor2d(IDS.map((r) => r.slice(0, 7)), [3, 7], 'int32'), { training: TRAIN }); // [3, 7, V]
        const targets = tf.tensor2d(IDS.map((r) => r.slice(1)), [3, 7], 'int32');
        return tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(lg), tf.oneHot(targets, lg.shape[2])), -1))) as tf.Scalar;
      });
    try {
      const vars = m.getLora()!.variables();
      const { value, grads } = tf.variableGrads(loss, vars);
      value.dispose();
      const eps = 1e-2;
      for (const v of vars) {
        const g = Float32Array.from(grads[v.name]!.dataSync());
        const data = Float32Array.from(v.dataSync());
        const i = g.reduce((best, x, j) => (Math.abs(x) > Math.abs(g[best]!) ? j : best), 0);
        const at = (d: number): number => {
          v.assign(tf.tensor(data.map((x, j) => (j === i ? x + d : x)), v.shape));
          const l = loss();
          const out = l.dataSync()[0]!;
          l.dispose();
          return out;
        };
        const fd = (at(eps) - at(-eps)) / (2 * eps);
        v.assign(tf.tensor(data, v.shape));
        expect(Math.abs(g[i]!)).toBeGreaterThan(0);
        expect(Math.abs(fd - g[i]!)).toBeLessThan(1e-3 + 1e-2 * Math.abs(g[i]!));
      }
      tf.dispose(Object.values(grads));
    } finally {
      m.dispose();
    }
  });
});
