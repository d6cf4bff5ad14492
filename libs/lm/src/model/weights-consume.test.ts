import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyModel, setupTestBackend } from '../testing';
import { CausalLM } from './causal-lm';

// fromHfTensors({ consume: true }) (what loadPretrained uses) frees each source tensor once its
// weight exists, so loading never holds two copies of the model; the weights must not change.

let source: CausalLM;
beforeAll(async () => {
  await setupTestBackend();
  source = makeTinyModel({ family: 'llama', seed: 3 });
});
afterAll(() => source.dispose());

function sameWeights(a: CausalLM, b: CausalLM): void {
  expect([...a.weights.keys()]).toEqual([...b.weights.keys()]);
  for (const [name, w] of a.weights) expect(Array.from(w.dataSync()), name).toEqual(Array.from(b.weights.get(name)!.dataSync()));
}

describe('eachHfTensor (savePretrained streams weights)', () => {
  it('yields toHfTensors one tensor at a time, one extra tensor alive when each is disposed', () => {
    const all = source.toHfTensors();
    const before = tf.memory().numTensors;
    const names: string[] = [];
    for (const [name, t] of source.eachHfTensor()) {
      expect(tf.memory().numTensors).toBe(before + 1);
      expect(t.shape, name).toEqual(all.get(name)!.shape);
      expect(Array.from(t.dataSync()), name).toEqual(Array.from(all.get(name)!.dataSync()));
      names.push(name);
      t.dispose();
    }
    expect(names).toEqual([...all.keys()]);
    expect(tf.memory().numTensors).toBe(before);
    for (const t of all.values()) t.dispose();
  });
});

describe('fromHfTensors consume', () => {
  it('disposes every source tensor, keeps the weights, and leaves one model copy in memory', () => {
    const hf = source.toHfTensors();
    const before = tf.memory().numTensors;
    const model = CausalLM.fromHfTensors(source.config, hf, { consume: true });
    expect([...hf.values()].every((t) => t.isDisposed)).toBe(true);
    // hf's tensors are gone and the model's weights came in: the count moves by weights - sources.
    expect(tf.memory().numTensors).toBe(before - hf.size + model.weights.size);
    sameWeights(model, source);
    model.dispose();
  });

  it('without consume leaves the source tensors to the caller, with the same weights', () => {
    const hf = source.toHfTensors();
    const model = CausalLM.fromHfTensors(source.config, hf);
    expect([...hf.values()].some((t) => t.isDisposed)).toBe(false);
    sameWeights(model, source);
    for (const t of hf.values()) t.dispose();
    model.dispose();
  });
});
