import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { setupTestBackend } from '../testing';
import { groupedAttention } from './attention';
import { attentionBias } from './masks';

beforeAll(async () => {
  await setupTestBackend();
});

/** Textbook multi-head attention after repeating each kv head G times (HF repeat_kv). */
function naiveRepeatKv(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, bias: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const h = q.shape[1];
    const g = h / k.shape[1];
    const idx = tf.tensor1d(Array.from({ length: h }, (_, i) => Math.floor(i / g)), 'int32');
    const kr = tf.gather(k, idx, 1); // [B, H, Tk, hd]
    const vr = tf.gather(v, idx, 1);
    const scores = tf.add(tf.matMul(q, kr, false, true), bias); // [B, H, T, Tk]
    return tf.matMul(tf.softmax(scores), vr);
  });
}

describe('groupedAttention', () => {
  it('equals attention with repeated kv heads (GQA, 8 query heads on 2 kv heads) under a padding mask', () => {
    const [b, h, hkv, t, hd] = [2, 8, 2, 5, 4];
    const q = tf.randomNormal([b, h, t, hd], 0, 1, 'float32', 1) as tf.Tensor4D;
    const k = tf.randomNormal([b, hkv, t, hd], 0, 1, 'float32', 2) as tf.Tensor4D;
    const v = tf.randomNormal([b, hkv, t, hd], 0, 1, 'float32', 3) as tf.Tensor4D;
    const mask = tf.tensor2d([0, 1, 1, 1, 1, 1, 1, 1, 1, 0], [b, t]);
    const bias = attentionBias(mask, t);
    const got = groupedAttention(q, k, v, bias).arraySync();
    const want = naiveRepeatKv(q, k, v, bias).arraySync();
    let diff = 0;
    got.flat(3).forEach((x, i) => (diff = Math.max(diff, Math.abs(x - want.flat(3)[i]!))));
    expect(diff).toBeLessThan(1e-5);
    // Different kv heads really give different outputs (the grouping matters).
    expect(Math.abs(got[0]![0]![2]![0]! - got[0]![7]![2]![0]!)).toBeGreaterThan(1e-4);
    tf.dispose([q, k, v, mask, bias]);
  });

  it('builds the causal + padding bias for new queries after a cache', () => {
    const mask = tf.tensor2d([[0, 1, 1, 1]]);
    const bias = attentionBias(mask, 2).arraySync()[0]![0]!; // queries at absolute 2 and 3
    expect(bias[0]!.map((x) => x === 0)).toEqual([false, true, true, false]);
    expect(bias[1]!.map((x) => x === 0)).toEqual([false, true, true, true]);
    tf.dispose([mask]);
  });
});
