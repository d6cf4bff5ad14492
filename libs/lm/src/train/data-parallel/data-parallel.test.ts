import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { makeTinyModel, setupTestBackend } from '../../testing';
import type { TrainBatch } from '../batch-source';
import { trainCausalLM } from '../train-causal-lm';
import { combineShardGradients, splitRows } from './shard-gradients';

beforeAll(async () => {
  await setupTestBackend();
});

// Prompt/response rows of different lengths, so shards get different padding and token counts.
function batches(step: number, batchSize: number): TrainBatch {
  const prompts: number[][] = [];
  const responses: number[][] = [];
  for (let b = 0; b < batchSize; b++) {
    const k = (step * batchSize + b) % 7;
    prompts.push(Array.from({ length: 2 + (k % 3) }, (_, i) => 3 + ((k + i) % 9)));
    responses.push(Array.from({ length: 1 + k }, (_, i) => 3 + ((k * 2 + i) % 9)));
  }
  return { prompts, responses };
}

async function run(workers: number) {
  const model = makeTinyModel({ family: 'gpt2', seed: 5, weightScale: 1 });
  const counts: number[] = [];
  const res = await trainCausalLM(model, {
    data: batches,
    batchSize: 6,
    steps: 8,
    padId: 0,
    workers,
    optimizer: { lr: 1e-2, gradClip: 0.5, schedule: { type: 'constant' } },
    onStep: () => void counts.push(tf.memory().numTensors),
  });
  const weights = new Map([...model.weights].map(([k, v]) => [k, v.dataSync().slice()]));
  model.weights.forEach((v) => v.dispose());
  return { losses: res.losses, weights, counts };
}

describe('trainCausalLM with workers > 1 (data parallel)', () => {
  it('follows the single-thread run: same losses and weights up to float summation order', async () => {
    const one = await run(1);
    const two = await run(2);
    const three = await run(3);
    for (const other of [two, three]) {
      other.losses.forEach((l, i) => expect(l).toBeCloseTo(one.losses[i]!, 4));
      for (const [name, w] of one.weights) {
        const o = other.weights.get(name)!;
        let maxDiff = 0;
        for (let i = 0; i < w.length; i++) maxDiff = Math.max(maxDiff, Math.abs(w[i]! - o[i]!));
        expect(maxDiff, name).toBeLessThan(1e-4);
      }
      // no tensors left behind by the shard/combine path
      expect(new Set(other.counts).size, `tensor counts ${other.counts.join(',')}`).toBe(1);
    }
    // and the runs did move the weights (the comparison is not between two untouched models)
    expect(one.losses.at(-1)!).toBeLessThan(one.losses[0]!);
  }, 120_000);

  it('combines shard gradients weighted by tokens (closed form) and splits rows evenly', () => {
    const g = combineShardGradients(
      [
        { tokens: 1, grads: [tf.tensor1d([1, 2])] },
        { tokens: 3, grads: [tf.tensor1d([5, 6])] },
        { tokens: 0, grads: [] },
      ],
      1,
    );
    expect(Array.from(g[0]!.dataSync())).toEqual([(1 + 15) / 4, (2 + 18) / 4]);
    expect(splitRows([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4, 5]]);
    expect(splitRows([1], 3)).toEqual([[1]]);
  });

  it('rejects workers on a model without a config, and bad counts', async () => {
    const W = tf.variable(tf.zeros([4, 4]));
    const bare = { forward: (ids: tf.Tensor2D) => tf.zeros([...ids.shape, 4]) as tf.Tensor3D, trainableVariables: () => [W] };
    const opts = { data: batches, batchSize: 2, steps: 1, padId: 0, optimizer: { lr: 1e-3 } };
    await expect(trainCausalLM(bare, { ...opts, workers: 2 })).rejects.toThrow(/workers > 1 needs a model with a config/);
    await expect(trainCausalLM(bare, { ...opts, workers: 0 })).rejects.toThrow(/workers must be an integer >= 1/);
    W.dispose();
  });
});
