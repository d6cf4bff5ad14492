import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { setupTestBackend } from '@emrl/lm/testing';
import { sumOfSquares } from './lora-checkpoint';

beforeAll(async () => {
  await setupTestBackend();
});

describe('sumOfSquares (LoRA base fingerprint)', () => {
  it('squares a weight above the block size in row blocks: reproducible, close to the one-shot sum and to float64', () => {
    const rows = 1031; // 1031 x 4099 = 4.2M floats > 2^22: blocks of 1023 rows, the last one short
    const w = tf.randomNormal([rows, 4099], 0, 1, 'float32', 7);
    const blocked = sumOfSquares(w);
    const direct = tf.tidy(() => tf.sum(tf.square(w)));
    let ref = 0;
    for (const v of w.dataSync()) ref += v * v;
    // float32 accumulation of 4.2M terms drifts ~0.4% from float64 either way; blocks and the
    // one-shot sum agree far closer, and a fingerprint must be exactly reproducible.
    expect(Math.abs(blocked.dataSync()[0]! - ref) / ref).toBeLessThan(1e-2);
    expect(Math.abs(blocked.dataSync()[0]! - direct.dataSync()[0]!) / ref).toBeLessThan(1e-3);
    const again = sumOfSquares(w);
    expect(again.dataSync()[0]).toBe(blocked.dataSync()[0]);
    again.dispose();
    tf.dispose([w, blocked, direct]);
  });

  it('keeps the one-shot sum below the block size (fingerprints of small models unchanged) and leaks nothing', () => {
    const w = tf.randomNormal([64, 96], 0, 1, 'float32', 8);
    const before = tf.memory().numTensors;
    const s = sumOfSquares(w);
    const direct = tf.tidy(() => tf.sum(tf.square(w)));
    expect(s.dataSync()[0]).toBe(direct.dataSync()[0]);
    tf.dispose([s, direct]);
    expect(tf.memory().numTensors).toBe(before);
    w.dispose();
  });
});
