import * as tf from '@tensorflow/tfjs-core';
import { packBatchArrays, seededRandom, type CausalLM, type PackedArrays } from '@emrl/lm';
import { makeTinyModel, setupTestBackend } from '@emrl/lm/testing';
import { modelParameters, Trainer, type Sampler, type TrainBatch } from '@emrl/rl-grpo';
import { beforeAll, describe, expect, it } from 'vitest';
import { EmLossTerm } from './regularizer';

beforeAll(async () => {
  await setupTestBackend();
});

const V = 64;
const r = seededRandom(33);
const tokens = (n: number): number[] => Array.from({ length: n }, () => 3 + Math.floor(r() * (V - 3)));
const PACKED: PackedArrays = packBatchArrays([tokens(2), tokens(4), tokens(3)], [tokens(7), tokens(5), tokens(2)], 0); // T = 10
// 3 rows of logits per chunk: 3 x 10 = 30 rows -> 10 chunks (with 1 micro-batch); 4 rows per chunk with 3 micro-batches of 10 rows -> ragged.
const CHUNK_BUDGETS = [3 * V * 4, 4 * V * 4];

class FixedSampler implements Sampler {
  readonly description = 'a fixed batch';
  async collect(): Promise<TrainBatch> {
    return { packed: PACKED, groupSize: 1, metrics: {}, generatedTokens: 0 };
  }
}

/** Three EM steps: the warm-start term at tau 0.5 (sequence-mean, last half) and a token-mean term at the trainer's tau. */
async function run(model: CausalLM, microBatches: number, logitsBudgetBytes: number | undefined) {
  const trainer = new Trainer({
    id: 'em',
    model,
    sampler: new FixedSampler(),
    terms: [
      new EmLossTerm({ temperature: 0.5, pooling: 'sequence-mean', lastFraction: 0.5, coef: { type: 'fixed', value: 1 } }, 'em'),
      new EmLossTerm({ coef: { type: 'fixed', value: 0.3 } }, 'em-token'),
    ],
    parameters: modelParameters(model),
    optimizer: { lr: 1e-2, weightDecay: 0, gradClip: 0 },
    totalSteps: 3,
    temperature: 1,
    microBatches,
    logitsBudgetBytes,
  });
  const metrics: Record<string, number>[] = [];
  const counts: number[] = [];
  for (let s = 0; s < 3; s++) {
    metrics.push((await trainer.step(s)).metrics);
    counts.push(tf.memory().numTensors);
  }
  trainer.dispose();
  model.dispose();
  return { metrics, counts };
}

describe('EM through the trainer: the chunked token-stats path equals the plain path', () => {
  for (const [microBatches, budget] of [
    [1, CHUNK_BUDGETS[0]!],
    [3, CHUNK_BUDGETS[1]!],
  ] as const) {
    it(`${microBatches} micro-batch(es): loss, grad norm and both entropies agree to 1e-5 over 3 steps`, async () => {
      const plain = await run(makeTinyModel({ family: 'llama', vocabSize: V, seed: 4, weightScale: 2 }), microBatches, undefined);
      const chunked = await run(makeTinyModel({ family: 'llama', vocabSize: V, seed: 4, weightScale: 2 }), microBatches, budget);
      for (let s = 0; s < 3; s++) {
        for (const k of ['loss', 'grad_norm', 'em/entropy', 'em-token/entropy']) {
          const a = plain.metrics[s]![k]!;
          const b = chunked.metrics[s]![k]!;
          expect(Number.isFinite(a), `${k} step ${s}`).toBe(true);
          expect(Math.abs(a - b), `${k} step ${s}: plain ${a}, chunked ${b}`).toBeLessThan(1e-5 * Math.max(1, Math.abs(a)));
        }
      }
      // EM lowers the entropy it minimizes (the steps did something).
      expect(plain.metrics[2]!['em/entropy']!).toBeLessThan(plain.metrics[0]!['em/entropy']!);
      expect(new Set(chunked.counts.slice(1)).size, chunked.counts.join(',')).toBe(1);
    });
  }
});
