import * as tf from '@tensorflow/tfjs-core';
import { ByteTokenizer, type ModelWorkers } from '@emrl/lm';
import { makeTinyModel, setupTestBackend, startSplittingWorkers } from '@emrl/lm/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistry } from '../builtins';
import type { Policy } from '../policy';
import type { Task, TaskExample } from '../tasks/task';
import { GrpoConfigSchema, type GrpoConfigInput } from './grpo-config';
import { grpoTrainer } from './grpo-stage';

// Issue #15, both cores in every stage: the same GRPO steps on one thread and on two (rollouts,
// old/reference scoring and gradient passes shared with a worker thread).

const registry = createRegistry();
const LR = 3e-2;
let workers: ModelWorkers;

beforeAll(async () => {
  await setupTestBackend();
  workers = await startSplittingWorkers();
}, 60_000);

afterAll(async () => {
  await workers?.close();
});

function task(): Task {
  const examples: TaskExample[] = Array.from({ length: 8 }, (_, i) => ({ id: `p${i}`, prompt: `p${i}:`, answer: 'x' }));
  const extract = (c: string) => (c.length ? c[0]! : null);
  return {
    name: 'rule',
    split: () => examples,
    verify: (c) => ({ correct: /^[a-m]/.test(c), extracted: extract(c), formatOk: c.length > 0 }),
    extractAnswer: extract,
    stopSequences: ['$'],
    maxCompletionLength: 6,
  };
}

interface Run {
  metrics: Record<string, number>[];
  weights: Float32Array[];
  counts: number[];
}

async function run(threads: 1 | 2, over: GrpoConfigInput, lora: boolean): Promise<Run> {
  const model = makeTinyModel({ family: 'gpt2', vocabSize: 258, seed: 4, weightScale: 1 });
  if (lora) model.attachLora({ r: 4, alpha: 8, dropout: 0.1, targetModules: ['c_attn', 'c_fc'] }, 2);
  const policy: Policy = { model, tokenizer: new ByteTokenizer(), name: 'tiny', ...(threads === 2 ? { workers } : {}) };
  const config = GrpoConfigSchema.parse({ steps: 4, promptsPerStep: 4, groupSize: 6, lr: LR, temperature: 1, ...over });
  const trainer = grpoTrainer({ policy, registry, task: task(), config, seed: 7, loraAttachedByStage: lora });
  const metrics: Record<string, number>[] = [];
  const counts: number[] = [];
  try {
    for (let s = 0; s < 4; s++) {
      const m = (await trainer.step(s)).metrics;
      metrics.push(Object.fromEntries(Object.entries(m).filter(([k]) => !k.startsWith('perf/'))));
      counts.push(tf.memory().numTensors, ...(threads === 2 ? await workers.workerTensorCounts() : []));
    }
  } finally {
    trainer.dispose();
  }
  const weights = model.trainableVariables().map((v) => v.dataSync().slice() as Float32Array);
  model.dispose();
  return { metrics, weights, counts };
}

/** Metrics that follow from the sampled tokens alone (equal when every row samples the same tokens). */
const SAMPLED = ['reward', 'reward_std', 'completions/mean_length', 'completions/max_length', 'frac_reward_zero_std'];

function expectClose(two: Run, one: Run, tol: number): void {
  two.metrics.forEach((m, s) => {
    for (const k of SAMPLED) expect(m[k], `${k} at step ${s}`).toBe(one.metrics[s]![k]);
    for (const [k, v] of Object.entries(one.metrics[s]!)) expect(Math.abs(m[k]! - v), `${k} at step ${s}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(v)));
  });
  // AdamW divides by sqrt(v): a weight whose true gradient is 0 (GPT-2's key biases: softmax ignores
  // a shift shared by all keys) steps by +-lr on rounding noise alone, whichever sign it has on a
  // thread count. So: nearly every weight agrees to 1e-5, and none by more than 4 x lr.
  let far = 0;
  let total = 0;
  two.weights.forEach((w, i) => {
    for (let j = 0; j < w.length; j++) {
      const d = Math.abs(w[j]! - one.weights[i]![j]!);
      expect(d).toBeLessThan(4 * LR);
      if (d > 1e-5) far++;
      total++;
    }
  });
  expect(far / total).toBeLessThan(1e-2); // measured: 138 of 29,504 (full weights), 0 of 1,792 (LoRA)
}

describe('GRPO on two threads', () => {
  for (const [label, over, lora] of [
    ['full weights, mu = 2, k3 KL to a reference copy', { numIterations: 2, beta: 0.1 }, false],
    ['LoRA with dropout, KL to the base with the adapter off', { numIterations: 2, beta: 0.1 }, true],
  ] as const) {
    it(`${label}: one thread's steps to float rounding, reproducible, flat tensor counts`, async () => {
      const one = await run(1, over, lora);
      const two = await run(2, over, lora);
      const again = await run(2, over, lora);
      // The run trains: its weights move.
      expect(one.metrics[3]!['grad_norm']).toBeGreaterThan(0);
      expectClose(two, one, 1e-4);
      // Same seed and thread count: the same numbers, bit for bit.
      expect(again.metrics).toEqual(two.metrics);
      expect(again.weights).toEqual(two.weights);
      // Memory: flat after the first step, on both threads.
      const per = two.counts.length / 4;
      for (let s = 2; s < 4; s++) expect(two.counts.slice(s * per, (s + 1) * per)).toEqual(two.counts.slice(per, 2 * per));
    }, 180_000);
  }
});
