import * as tf from '@tensorflow/tfjs-core';
import { ByteTokenizer, type LogitsAdapter } from '@emrl/lm';
import { makeTinyModel, setupTestBackend } from '@emrl/lm/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistry } from '../builtins';
import { EntropyBonusPlugin } from '../grpo/entropy-bonus';
import { GrpoConfigSchema } from '../grpo/grpo-config';
import { grpoTrainer } from '../grpo/grpo-stage';
import type { Policy } from '../policy';
import { createTask } from '../tasks/registry';
import { adapterParameters, modelParameters } from './parameters';
import { FrozenBatchSampler } from './frozen-batch-sampler';
import { PromptSampler } from './prompt-sampler';
import { Trainer } from './trainer';

const task = createTask({ type: 'modchain', trainSize: 20, testSize: 4, probeSize: 4, maxOps: 2 });
const tokenizer = new ByteTokenizer();
const models: Policy[] = [];
const policy = (seed: number): Policy => {
  const p = { model: makeTinyModel({ family: 'gpt2', vocabSize: tokenizer.vocabSize, seed }), tokenizer, name: 'tiny' };
  models.push(p);
  return p;
};

beforeAll(async () => {
  await setupTestBackend();
});
afterAll(() => models.forEach((p) => p.model.dispose()));

/** A one-variable logits adapter: logits * s. */
function scaleAdapter(): LogitsAdapter & { s: tf.Variable } {
  const s = tf.variable(tf.scalar(1), true);
  return { name: 'scale', s, variables: () => [s], apply: (l) => tf.mul(l, s) as tf.Tensor3D };
}

async function tensorsAfterSteps(trainer: Trainer, steps: number): Promise<number[]> {
  const counts: number[] = [];
  for (let s = 0; s < steps; s++) {
    await trainer.step(s);
    counts.push(tf.memory().numTensors);
  }
  return counts;
}

describe('Trainer: tensor counts stay flat over many steps in all three configurations', () => {
  it('GRPO (mu 2, 2 micro-batches, k3 KL reference, a plugin term)', async () => {
    const p = policy(1);
    const config = GrpoConfigSchema.parse({ steps: 6, promptsPerStep: 2, groupSize: 2, maxCompletionLength: 6, beta: 0.04, numIterations: 2, gradientAccumulationSteps: 2 });
    const trainer = grpoTrainer({ policy: p, task, config, seed: 0, registry: createRegistry(), plugins: [new EntropyBonusPlugin({ coef: 0.01 })] });
    const counts = await tensorsAfterSteps(trainer, 6);
    expect(new Set(counts.slice(1)).size, counts.join(',')).toBe(1);
    trainer.dispose();
  });

  it('fixed-prompt rollouts (the EM warm start shape)', async () => {
    const p = policy(2);
    const trainer = new Trainer({
      id: 'em',
      model: p.model,
      sampler: new PromptSampler({ policy: p, task, prompts: task.split('train').slice(0, 1), rollouts: 3, sampling: (step) => ({ temperature: 1, topP: 1, topK: 0, maxNewTokens: 6, seed: step }) }),
      terms: [new EntropyBonusPlugin({ coef: 1 })],
      parameters: modelParameters(p.model),
      optimizer: { lr: 1e-3, weightDecay: 0.01, gradClip: 1 },
      totalSteps: 6,
      temperature: 1,
    });
    const counts = await tensorsAfterSteps(trainer, 6);
    expect(new Set(counts.slice(1)).size, counts.join(',')).toBe(1);
    trainer.dispose();
  });

  it('a frozen batch and adapter parameters (the compression shape): only the adapter moves', async () => {
    const p = policy(3);
    const adapter = scaleAdapter();
    const before = [...p.model.weights.values()].map((w) => Array.from(w.dataSync()));
    const start = tf.memory().numTensors;
    const trainer = new Trainer({
      id: 'compress',
      model: p.model,
      sampler: new FrozenBatchSampler({ policy: p, task, prompts: task.split('train').slice(0, 2), rollouts: 2, sampling: { temperature: 1, topP: 1, topK: 0, maxNewTokens: 6, seed: 1 } }),
      terms: [new EntropyBonusPlugin({ coef: 1 })],
      parameters: adapterParameters(adapter),
      optimizer: { lr: 0.05, weightDecay: 0, gradClip: 0 },
      totalSteps: 6,
      temperature: 1,
    });
    const counts = await tensorsAfterSteps(trainer, 6);
    expect(new Set(counts.slice(1)).size, counts.join(',')).toBe(1);
    // Maximizing entropy (a bonus) flattens the logits: the scale falls below 1.
    expect(adapter.s.dataSync()[0]).toBeLessThan(1);
    expect([...p.model.weights.values()].map((w) => Array.from(w.dataSync()))).toEqual(before);
    trainer.dispose();
    // Everything the trainer made (frozen logits, optimizer slots) is freed; the adapter is the caller's.
    expect(tf.memory().numTensors).toBe(start);
    adapter.s.dispose();
  });

  it('refuses duplicate term names and an empty loss', () => {
    const p = policy(4);
    const base = {
      id: 's',
      model: p.model,
      sampler: new PromptSampler({ policy: p, task, prompts: [], rollouts: 1, sampling: () => ({ temperature: 1, topP: 1, topK: 0, maxNewTokens: 1, seed: 0 }) }),
      parameters: modelParameters(p.model),
      optimizer: { lr: 1, weightDecay: 0, gradClip: 0 },
      totalSteps: 1,
      temperature: 1,
    };
    expect(() => new Trainer({ ...base, terms: [new EntropyBonusPlugin(), new EntropyBonusPlugin()] })).toThrow(/two loss terms are named "entropy-bonus"/);
    expect(() => new Trainer({ ...base, terms: [] })).toThrow(/at least one loss term/);
  });
});

describe('Trainer: finiteness guard', () => {
  const emLike = (p: Policy, lr: number, terms: ConstructorParameters<typeof Trainer>[0]['terms']) =>
    new Trainer({
      id: 'em',
      model: p.model,
      sampler: new PromptSampler({ policy: p, task, prompts: task.split('train').slice(0, 1), rollouts: 2, sampling: (step) => ({ temperature: 1, topP: 1, topK: 0, maxNewTokens: 4, seed: step }) }),
      terms,
      parameters: modelParameters(p.model),
      optimizer: { lr, weightDecay: 0, gradClip: 0 },
      totalSteps: 3,
      temperature: 1,
    });
  const weights = (p: Policy) => [...p.model.weights.values()].map((w) => Array.from(w.dataSync()));

  it('a NaN loss stops the step before any update, naming the stage, the step and the value', async () => {
    const p = policy(5);
    const nanTerm = { name: 'nan', compute: (i: { logits: tf.Tensor3D }) => ({ loss: tf.mul(tf.sum(i.logits), Number.NaN) as tf.Scalar, coef: 1 }) };
    const trainer = emLike(p, 1e-3, [nanTerm]);
    const before = weights(p);
    const start = tf.memory().numTensors;
    await expect(trainer.step(0)).rejects.toThrow(/stage "em": the loss is NaN at step 1; the step was not saved.*emrl resume <run-dir> --set em\.lr=/);
    expect(weights(p)).toEqual(before);
    expect(tf.memory().numTensors).toBe(start); // the failed step's gradients were freed
    trainer.dispose();
  });

  it('an update that overflows the weights stops right after it (lr 1e39 in float32)', async () => {
    const p = policy(6);
    const trainer = emLike(p, 1e39, [new EntropyBonusPlugin({ coef: 1 })]);
    await expect(trainer.step(0)).rejects.toThrow(/stage "em": the updated model weights \(\d+ non-finite entries\) is NaN at step 1/);
    trainer.dispose();
  });

  it('finite training is not stopped (same run, a sane lr)', async () => {
    const p = policy(7);
    const trainer = emLike(p, 1e-3, [new EntropyBonusPlugin({ coef: 1 })]);
    for (let s = 0; s < 3; s++) expect(Number.isFinite((await trainer.step(s)).metrics['loss'])).toBe(true);
    trainer.dispose();
  });
});

describe('Trainer: LoRA dropout in the loss forward (train mode)', () => {
  /** The LoRA weights after `steps` GRPO steps of a fresh tiny policy with this dropout and split. */
  async function loraAfter(dropout: number, microBatches: number, seed = 4): Promise<Float32Array> {
    const p = policy(7);
    p.model.attachLora({ r: 2, alpha: 4, dropout, targetModules: ['c_attn', 'c_fc'] }, 11);
    const config = GrpoConfigSchema.parse({ steps: 2, promptsPerStep: 2, groupSize: 4, maxCompletionLength: 6, beta: 0, lr: 0.05, gradientAccumulationSteps: microBatches, lossType: 'grpo' });
    // The entropy term gives a gradient even when every reward of the tiny random policy is 0.
    const trainer = grpoTrainer({ policy: p, task, config, seed, registry: createRegistry(), plugins: [new EntropyBonusPlugin({ coef: 1 })] });
    await trainer.step(0);
    await trainer.step(1);
    trainer.dispose();
    return Float32Array.from(p.model.getLora()!.variables().flatMap((v) => Array.from(v.dataSync())));
  }
  const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);

  it('changes training, is reproducible for a seed and does not depend on the micro-batch split', async () => {
    const plain = await loraAfter(0, 1);
    const dropped = await loraAfter(0.5, 1);
    expect(maxDiff(dropped, plain)).toBeGreaterThan(1e-4); // the trainer runs the adapter in train mode
    expect(Array.from(await loraAfter(0.5, 1))).toEqual(Array.from(dropped)); // same seed, same run (what resume relies on)
    const otherSeed = await loraAfter(0.5, 1, 5);
    const splitPlain = await loraAfter(0, 2);
    const split = await loraAfter(0.5, 2);
    // Split into 2 micro-batches: the same masks (only the float summation order differs), as without dropout.
    expect(maxDiff(split, dropped)).toBeLessThan(1e-5 + 2 * maxDiff(splitPlain, plain));
    expect(maxDiff(otherSeed, dropped)).toBeGreaterThan(1e-4);
  });
});
