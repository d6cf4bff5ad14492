import * as tf from '@tensorflow/tfjs-core';
import { makeTinyModel, setupTestBackend } from '@emrl/lm/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { WeightSnapshots } from './weight-snapshots';

beforeAll(async () => {
  await setupTestBackend();
});

const dataOf = (vars: Map<string, tf.Variable>) => [...vars].map(([n, v]) => [n, Array.from(v.dataSync())]);

describe('WeightSnapshots', () => {
  it('with LoRA attached, snapshots and restores only the adapter; the frozen base is neither copied nor touched', () => {
    const model = makeTinyModel({ family: 'llama', vocabSize: 40, seed: 2 });
    const lora = model.attachLora({ r: 2, alpha: 4, targetModules: ['q_proj', 'up_proj'] }, 1);
    const snaps = new WeightSnapshots();
    const base = dataOf(model.weights);
    const before = tf.memory().numTensors;
    snaps.take(3, model);
    expect(tf.memory().numTensors - before).toBe(lora.variables().length);
    const saved = dataOf(lora.namedVariables());
    tf.tidy(() => lora.variables().forEach((v) => v.assign(tf.add(v, 0.5))));
    expect(dataOf(lora.namedVariables())).not.toEqual(saved);
    expect(snaps.restore(3, model)).toBe(true);
    expect(dataOf(lora.namedVariables())).toEqual(saved);
    expect(dataOf(model.weights)).toEqual(base);
    snaps.dispose();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('without LoRA, snapshots every weight', () => {
    const model = makeTinyModel({ family: 'gpt2', vocabSize: 40, seed: 2 });
    const snaps = new WeightSnapshots();
    const saved = dataOf(model.weights);
    snaps.take(0, model);
    tf.tidy(() => [...model.weights.values()].forEach((v) => v.assign(tf.mul(v, 2))));
    snaps.restore(0, model);
    expect(dataOf(model.weights)).toEqual(saved);
    snaps.dispose();
    model.dispose();
  });
});
