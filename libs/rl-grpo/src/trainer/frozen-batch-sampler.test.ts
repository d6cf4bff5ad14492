import * as tf from '@tensorflow/tfjs-core';
import { ByteTokenizer } from '@emrl/lm';
import { makeTinyModel, setupTestBackend } from '@emrl/lm/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Policy } from '../policy';
import { encodePrompt } from '../tasks/prompt-format';
import { createTask } from '../tasks/registry';
import { FrozenBatchSampler } from './frozen-batch-sampler';

const task = createTask({ type: 'modchain', trainSize: 20, testSize: 4, probeSize: 4, maxOps: 2 });
const tokenizer = new ByteTokenizer();
let policy: Policy;
beforeAll(async () => {
  await setupTestBackend();
  policy = { model: makeTinyModel({ family: 'gpt2', vocabSize: tokenizer.vocabSize, seed: 1 }), tokenizer, name: 'tiny' };
});
afterAll(() => policy.model.dispose());

const prompts = task.split('train').slice(0, 3);
const sampling = { temperature: 1, topP: 1, topK: 0, maxNewTokens: 6, seed: 1 };
/** Worst-case frozen logits, counted independently: 3 prompts x 2 rollouts rows, longest prompt + 6 positions, 258 x 4 bytes. */
const worstBytes = (): number => 3 * 2 * (Math.max(...prompts.map((e) => encodePrompt(task, e, tokenizer).length)) + 6) * tokenizer.vocabSize * 4;

describe('FrozenBatchSampler logits budget', () => {
  it('refuses before sampling when the worst-case frozen logits exceed the budget, naming the stage and what to shrink', async () => {
    const before = tf.memory().numTensors;
    const s = new FrozenBatchSampler({ policy, task, prompts, rollouts: 2, sampling, logitsBudgetBytes: worstBytes() - 1, stageId: 'squeeze' });
    await expect(s.collect()).rejects.toThrow(/stage "squeeze": the frozen logits would take up to .* MiB \(3 prompts x 2 rollouts = 6 rows x \d+ positions x vocab 258 x 4 bytes\).*lower the stage's prompts or rollouts.*raise logitsBudgetMiB/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('keeps the frozen logits [rows, T, V] within a budget the worst case fits exactly', async () => {
    const s = new FrozenBatchSampler({ policy, task, prompts, rollouts: 2, sampling, logitsBudgetBytes: worstBytes() });
    const batch = await s.collect();
    const [rows, T, V] = batch.frozenLogits!.shape;
    expect([rows, V]).toEqual([6, 258]);
    expect(rows * T * V * 4).toBeLessThanOrEqual(worstBytes());
    s.dispose();
  });
});
