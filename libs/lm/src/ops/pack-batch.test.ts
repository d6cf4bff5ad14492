import { describe, expect, it, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { setupTestBackend } from '../testing';
import { allTokensLossMask, packBatch, packBatchArrays } from './pack-batch';

beforeAll(async () => {
  await setupTestBackend();
});

describe('packBatchArrays', () => {
  // Hand-written: pad = 0, prompts [5,6] and [7], responses [8,9,10] and [11].
  // P = 2, R = 3, T = 5.
  //   row 0 inputs: 5  6  8  9 10     row 1 inputs: 0  7 11  0  0
  //   targets:      6  8  9 10  0                   7 11  0  0  0
  //   lossMask:     0  1  1  1  0                   0  1  0  0  0
  const a = packBatchArrays([[5, 6], [7]], [[8, 9, 10], [11]], 0);

  it('left-pads prompts and right-pads responses', () => {
    expect(a.promptLength).toBe(2);
    expect(a.seqLen).toBe(5);
    expect(Array.from(a.inputIds)).toEqual([5, 6, 8, 9, 10, 0, 7, 11, 0, 0]);
    expect(Array.from(a.attentionMask)).toEqual([1, 1, 1, 1, 1, 0, 1, 1, 0, 0]);
  });

  it('shifts targets left and masks exactly the response targets', () => {
    expect(Array.from(a.targets)).toEqual([6, 8, 9, 10, 0, 7, 11, 0, 0, 0]);
    expect(Array.from(a.lossMask)).toEqual([0, 1, 1, 1, 0, 0, 1, 0, 0, 0]);
    // every masked target is a response token
    for (let i = 0; i < a.lossMask.length; i++) if (a.lossMask[i] === 1) expect([8, 9, 10, 11]).toContain(a.targets[i]);
    expect(a.responseLengths).toEqual([3, 1]);
  });

  it('allTokensLossMask covers every real -> real prediction', () => {
    expect(Array.from(allTokensLossMask(a))).toEqual([1, 1, 1, 1, 0, 0, 1, 0, 0, 0]);
  });

  it('handles an empty response and rejects bad input', () => {
    const b = packBatchArrays([[1, 2]], [[]], 0);
    expect(b.seqLen).toBe(2);
    expect(Array.from(b.lossMask)).toEqual([0, 0]);
    expect(() => packBatchArrays([[]], [[1]], 0)).toThrow(/prompts\[0\] is empty/);
    expect(() => packBatchArrays([[1]], [], 0)).toThrow(/same length/);
  });
});

describe('packBatch', () => {
  it('builds tensors with the documented dtypes and shapes', () => {
    const before = tf.memory().numTensors;
    const p = packBatch([[5, 6], [7]], [[8, 9, 10], [11]], 0);
    expect(p.inputIds.dtype).toBe('int32');
    expect(p.targets.dtype).toBe('int32');
    expect(p.attentionMask.dtype).toBe('float32');
    expect(p.lossMask.shape).toEqual([2, 5]);
    expect(Array.from(p.targets.dataSync())).toEqual([6, 8, 9, 10, 0, 7, 11, 0, 0, 0]);
    tf.dispose([p.inputIds, p.attentionMask, p.targets, p.lossMask]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
