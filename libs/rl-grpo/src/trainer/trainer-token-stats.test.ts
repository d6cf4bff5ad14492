import * as tf from '@tensorflow/tfjs-core';
import { packBatchArrays, seededRandom, type CausalLM, type PackedArrays } from '@emrl/lm';
import { makeTinyModel, setupTestBackend } from '@emrl/lm/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { EntropyBonusPlugin } from '../grpo/entropy-bonus';
import { GrpoPolicyTerm } from '../grpo/grpo-policy-term';
import type { LossTermPlugin } from '../stage-kit/plugin';
import { modelParameters } from './parameters';
import type { Sampler, TrainBatch } from './sampler';
import { Trainer } from './trainer';

beforeAll(async () => {
  await setupTestBackend();
});

const V = 64;
const r = seededRandom(21);
const tokens = (n: number): number[] => Array.from({ length: n }, () => 3 + Math.floor(r() * (V - 3)));
// Two groups of two completions (G = 2), ragged prompts and responses: T = 9.
const PACKED: PackedArrays = packBatchArrays([tokens(3), tokens(3), tokens(2), tokens(2)], [tokens(6), tokens(4), tokens(7), tokens(3)], 0);
const ADVANTAGES = Float32Array.from([0.9, -0.9, -0.4, 0.4]);
// 5 rows of logits per chunk: a micro-batch of 2 rows x 9 positions = 18 rows -> 4 chunks, the last ragged.
const FIVE_ROWS = 5 * V * 4;

/** The same rows and advantages every step. */
class FixedSampler implements Sampler {
  readonly description = 'a fixed batch';
  async collect(): Promise<TrainBatch> {
    return { packed: PACKED, groupSize: 2, advantages: ADVANTAGES, metrics: {}, generatedTokens: 0 };
  }
}

/** Two steps of a GRPO trainer (mu 2, 2 micro-batches, k3 KL, an entropy bonus at another tau); metrics and final weights. */
async function run(model: CausalLM, logitsBudgetBytes: number | undefined) {
  const terms: LossTermPlugin[] = [
    new GrpoPolicyTerm({ model, epsLow: 0.2, epsHigh: 0.28, beta: 0.05, importanceLevel: 'token', lossType: 'bnpo', maxCompletionLength: 8, iterations: 2 }),
    new EntropyBonusPlugin({ coef: 0.05, temperature: 0.7 }),
  ];
  const trainer = new Trainer({
    id: 'grpo',
    model,
    sampler: new FixedSampler(),
    terms,
    parameters: modelParameters(model),
    optimizer: { lr: 1e-2, weightDecay: 0.01, gradClip: 0 },
    totalSteps: 2,
    temperature: 1,
    iterations: 2,
    microBatches: 2,
    logitsBudgetBytes,
  });
  const metrics: Record<string, number>[] = [];
  const counts: number[] = [];
  for (let s = 0; s < 3; s++) {
    metrics.push((await trainer.step(s)).metrics);
    counts.push(tf.memory().numTensors);
  }
  trainer.dispose();
  const weights = [...model.weights.values()].flatMap((w) => Array.from(w.dataSync()));
  model.dispose();
  return { metrics, weights, counts };
}

describe('Trainer on the chunked token-stats path (a tiny logits budget) equals the plain path', () => {
  for (const family of ['gpt2', 'llama'] as const) {
    it(`${family}: GRPO + entropy bonus: loss, grad norm, KL, entropy and the updated weights agree`, async () => {
      const plain = await run(makeTinyModel({ family, vocabSize: V, seed: 9, weightScale: 2 }), undefined);
      const chunked = await run(makeTinyModel({ family, vocabSize: V, seed: 9, weightScale: 2 }), FIVE_ROWS);
      for (let s = 0; s < plain.metrics.length; s++) {
        for (const k of ['loss', 'grad_norm', 'kl', 'entropy', 'policy_loss', 'entropy-bonus/entropy', 'ratio/mean']) {
          const a = plain.metrics[s]![k]!;
          const b = chunked.metrics[s]![k]!;
          expect(Number.isFinite(a), `${k} step ${s}`).toBe(true);
          expect(Math.abs(a - b), `${k} step ${s}: plain ${a}, chunked ${b}`).toBeLessThan(1e-5 * Math.max(1, Math.abs(a)));
        }
      }
      // The steps really trained (so equal weights are not equal start weights), and the KL term is live.
      expect(plain.metrics[2]!['kl']!).toBeGreaterThan(0);
      let worst = 0;
      for (let i = 0; i < plain.weights.length; i++) worst = Math.max(worst, Math.abs(plain.weights[i]! - chunked.weights[i]!));
      // Loose on purpose: AdamW divides by sqrt(v), so a weight whose gradient is ~1e-9 (float noise
      // on either path) can move by a good part of lr; the losses of steps 1 and 2 above already
      // agree to 1e-5 on the updated weights.
      expect(worst).toBeLessThan(0.1 * 1e-2);
      expect(new Set(chunked.counts.slice(1)).size, chunked.counts.join(',')).toBe(1);
    });
  }
});
