import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { ByteTokenizer, packBatchArrays, toPackedBatch, type CausalLM } from '@emrl/lm';
import { makeTinyModel, setupTestBackend } from '@emrl/lm/testing';
import { createTask, sampleGroups, streamSeed, waitForStageLoops, type Policy, type StageContext, type StageEvent } from '@emrl/rl-grpo';
import { emEntropyTemperature, EmStage, EmStageConfigSchema, type EmStageConfig } from './em-stage';

const task = createTask({ type: 'modchain', trainSize: 50, testSize: 20, probeSize: 8, maxOps: 2 });
const tokenizer = new ByteTokenizer();
const PROMPT = '3+4*2=';
const dirs: string[] = [];

function policy(seed = 0): Policy {
  return { model: makeTinyModel({ family: 'gpt2', vocabSize: tokenizer.vocabSize, seed }), tokenizer, name: 'tiny' };
}

function config(over: Partial<z.input<typeof EmStageConfigSchema>> = {}): EmStageConfig {
  return EmStageConfigSchema.parse({ steps: 4, prompt: { text: [PROMPT] }, rollouts: 4, lr: 3e-3, maxNewTokens: 10, ...over });
}

async function run(stage: EmStage, ctx: StageContext): Promise<StageEvent[]> {
  return lastValueFrom(stage.run(ctx).pipe(toArray()));
}

const metricsOf = (events: StageEvent[]) => events.flatMap((e) => (e.type === 'metrics' ? [e.metrics] : []));
const finishedOf = (events: StageEvent[]) => events.find((e): e is Extract<StageEvent, { type: 'finished' }> => e.type === 'finished')!;

/** Token-mean entropy of softmax(z / tau) over lossMask, in float64 JS (independent of losses.ts). */
function jsEntropy(model: CausalLM, promptIds: number[][], completionIds: number[][], tau: number): number {
  const packed = packBatchArrays(promptIds, completionIds, tokenizer.padTokenId);
  const logits = tf.tidy(() => {
    const b = toPackedBatch(packed);
    return model.forward(b.inputIds, { attentionMask: b.attentionMask });
  });
  const z = logits.arraySync();
  logits.dispose();
  const T = packed.seqLen;
  let sum = 0;
  let n = 0;
  z.forEach((row, b) =>
    row.forEach((v, t) => {
      if (!packed.lossMask[b * T + t]) return;
      const s = v.map((x) => x / tau);
      const m = Math.max(...s);
      const lse = m + Math.log(s.reduce((a, x) => a + Math.exp(x - m), 0));
      sum -= s.reduce((a, x) => a + Math.exp(x - lse) * (x - lse), 0);
      n++;
    }),
  );
  return sum / n;
}

beforeAll(async () => {
  await setupTestBackend();
});
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'em-stage-'));
  dirs.push(d);
  return d;
}

describe('EmStage', () => {
  it('minimizes the token entropy of a fixed prompt; the loss is the independent entropy of the sampled batch; tensors stay flat', async () => {
    const p = policy();
    const initial = p.model.clone();
    const c = config({ steps: 5 });
    // The first step's batch, drawn exactly as the stage draws it.
    const r = await sampleGroups({ ...p, model: initial }, task, [{ id: 'x', prompt: PROMPT, answer: '' }], c.rollouts, {
      temperature: c.sampleTemperature, topP: c.topP, topK: 0, maxNewTokens: 10, seed: streamSeed(7, 'em', 0, 'sample'),
    });
    const before = jsEntropy(initial, r.promptIds, r.completionIds, emEntropyTemperature(c));
    const counts: number[] = [];
    const events = await run(new EmStage('em', c), { policy: p, task, seed: 7 });
    const ms = metricsOf(events);
    expect(ms).toHaveLength(5);
    expect(ms[0]!['loss']).toBeCloseTo(before, 4);
    const after = jsEntropy(p.model, r.promptIds, r.completionIds, emEntropyTemperature(c));
    expect(after).toBeLessThan(before * 0.9);
    expect(ms[4]!['loss']).toBeLessThan(ms[0]!['loss']!);
    const fin = finishedOf(events);
    expect(fin.policy.name).toBe('tiny>em');
    expect(fin.result).toEqual({ prompts: [{ id: 'text-0', prompt: PROMPT }] });

    // Tensor count after each step (recorded synchronously at the metrics event) does not grow.
    const q = policy(1);
    await new Promise<void>((resolve, reject) =>
      // held-out measurement included (patience 100: never stops)
      new EmStage('em', config({ steps: 4, earlyStop: { heldOut: 2, samples: 2, patience: 100 } })).run({ policy: q, task, seed: 1 }).subscribe({
        next: (e) => {
          if (e.type === 'metrics') counts.push(tf.memory().numTensors);
        },
        error: reject,
        complete: resolve,
      }),
    );
    expect(new Set(counts.slice(1)).size).toBe(1);
    initial.dispose();
    q.model.dispose();
    p.model.dispose();
  });

  it('prompt "selected" without a select stage errors with the fix; with one it uses the selected prompt', async () => {
    const p = policy();
    const stage = new EmStage('em', config({ prompt: 'selected', steps: 1 }));
    await expect(run(stage, { policy: p, task, seed: 0 })).rejects.toThrow(/needs an earlier select stage.*add one, or set prompt/);
    const previous = {
      sel: { kind: 'select', result: { selected: [{ id: 'modchain-train-3', prompt: '7*3=' }] } },
      other: { kind: 'eval', result: {} },
    };
    const events = await run(stage, { policy: p, task, seed: 0, previous });
    expect(finishedOf(events).result).toEqual({ prompts: [{ id: 'modchain-train-3', prompt: '7*3=' }] });
    expect(events.some((e) => e.type === 'log' && e.message.includes('"7*3="'))).toBe(true);
    p.model.dispose();
  });

  it('checkpoint + resume gives the same metrics as an uninterrupted run (held-out signals included)', async () => {
    const earlyStop = { signal: 'agreement' as const, heldOut: 2, samples: 2, patience: 100 };
    const c = config({ steps: 4, checkpointEvery: 2, earlyStop });
    const full = policy();
    const dirA = await tmp();
    const a = metricsOf(await run(new EmStage('em', c), { policy: full, task, seed: 3, checkpointDir: dirA }));
    expect(a).toHaveLength(4);
    for (const k of ['heldout/agreement', 'heldout/entropy', 'heldout/skewness']) expect(Number.isFinite(a[0]![k])).toBe(true);

    const dirB = await tmp();
    const first = policy();
    const partial: StageEvent[] = [];
    await new Promise<void>((resolve, reject) => {
      const sub = new EmStage('em', c).run({ policy: first, task, seed: 3, checkpointDir: dirB }).subscribe({
        next: (e) => {
          partial.push(e);
          if (e.type === 'checkpoint' && e.step === 2) {
            sub.unsubscribe();
            resolve();
          }
        },
        error: reject,
      });
    });
    await waitForStageLoops();
    expect(partial.some((e) => e.type === 'finished')).toBe(false);
    const resumed = policy(99); // different init: the weights must come from the checkpoint
    const b = metricsOf(await run(new EmStage('em', c), { policy: resumed, task, seed: 3, checkpointDir: dirB, resumeStep: 2 }));
    expect(b).toHaveLength(2);
    for (let i = 0; i < 2; i++) {
      for (const [k, v] of Object.entries(a[i + 2]!)) {
        if (k.startsWith('perf/')) continue;
        expect(b[i]![k], k).toBeCloseTo(v, 5);
      }
    }
    [full, first, resumed].forEach((x) => x.model.dispose());
  });
});

describe('EmStage early stopping', () => {
  it('rejects agreement with k = 1', () => {
    expect(() => config({ earlyStop: { signal: 'agreement', samples: 1 } })).toThrow(/samples >= 2/);
  });

  it('skewness jump stops with the reason in the events and restores the best step', async () => {
    const p = policy();
    const initial = p.model.clone();
    const c = config({ steps: 4, lr: 1e-2, evalEvery: 1, evalLimit: 4, earlyStop: { signal: 'skewness-jump', minDelta: 1e-9, heldOut: 2, samples: 2, restoreBest: true } });
    const events = await run(new EmStage('em', c), { policy: p, task, seed: 5 });
    const fin = finishedOf(events);
    // The stop step's accuracy is measured before the restore; the restored weights' accuracy is step 0's.
    const evals = (fin.result as { evaluations: { step: number; metrics: Record<string, number> }[] }).evaluations;
    expect(evals.map((e) => e.step)).toEqual([0, 1]);
    expect(metricsOf(events)[0]!['eval_accuracy/restored']).toBe(evals[0]!.metrics['eval_accuracy']);
    expect(fin.stopped).toMatchObject({ step: 1 });
    expect(fin.stopped!.reason).toMatch(/^early-stop\/skewness-jump: heldout\/skewness jumped .*best step 0; restored the weights of step 0/);
    expect(events.some((e) => e.type === 'log' && e.message.startsWith('stopped early at step 1'))).toBe(true);
    expect(fin.summary['early_stop/best_step']).toBe(0);
    // restored = the weights the stage started from
    for (const [name, w] of p.model.weights) {
      const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(w, initial.weights.get(name)!))).dataSync()[0]!);
      expect(diff, name).toBe(0);
    }
    initial.dispose();
    p.model.dispose();
  });

  it('agreement plateau waits for minSteps and reports the best step; without restoreBest the weights are the last ones', async () => {
    const p = policy();
    const initial = p.model.clone();
    // minDelta 1: agreement can never improve by more than 1, so the plateau starts at step 0.
    const c = config({ steps: 6, earlyStop: { signal: 'agreement', minDelta: 1, patience: 1, minSteps: 3, heldOut: 2, samples: 2 } });
    const events = await run(new EmStage('em', c), { policy: p, task, seed: 5 });
    const fin = finishedOf(events);
    expect(fin.stopped?.step).toBe(3);
    expect(fin.stopped!.reason).toMatch(/^early-stop\/agreement: heldout\/agreement did not improve.*best step 0$/);
    expect(metricsOf(events)).toHaveLength(3);
    const result = fin.result as { earlyStop: { history: { step: number }[]; decision: { bestStep: number } } };
    expect(result.earlyStop.history.map((h) => h.step)).toEqual([0, 1, 2, 3]);
    const moved = tf.tidy(() => tf.max(tf.abs(tf.sub(p.model.weights.get('transformer.wte.weight')!, initial.weights.get('transformer.wte.weight')!))).dataSync()[0]!);
    expect(moved).toBeGreaterThan(0);
    initial.dispose();
    p.model.dispose();
  });
});

describe('EmStage evalEvery', () => {
  /** Greedy accuracy on the first n test prompts, computed directly (independent of evaluate). */
  async function greedyAccuracy(p: Policy, n: number): Promise<number> {
    const examples = task.split('test').slice(0, n);
    const r = await sampleGroups(p, task, examples, 1, { temperature: 0, topP: 1, topK: 0, maxNewTokens: task.maxCompletionLength, seed: 0 });
    return examples.filter((ex, i) => task.verify(r.completions[i]!, ex).correct).length / examples.length;
  }

  it('measures test accuracy at step 0 and every N-th step (and the last), without changing the EM trajectory', async () => {
    const plain = policy(2);
    const withEval = policy(2);
    const initial = withEval.model.clone();
    const base = metricsOf(await run(new EmStage('em', config({ steps: 5 })), { policy: plain, task, seed: 4 }));
    const events = await run(new EmStage('em', config({ steps: 5, evalEvery: 2, evalLimit: 6 })), { policy: withEval, task, seed: 4 });
    const ms = metricsOf(events);
    expect(ms.map((m) => 'eval_accuracy' in m)).toEqual([false, true, false, true, true]);
    // The measurement never feeds the EM loss: same losses and final weights as a run without it.
    ms.forEach((m, i) => expect(m['loss']).toBe(base[i]!['loss']));
    for (const [name, w] of withEval.model.weights) {
      const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(w, plain.model.weights.get(name)!))).dataSync()[0]!);
      expect(diff, name).toBe(0);
    }
    const result = finishedOf(events).result as { evaluations: { step: number; metrics: Record<string, number> }[] };
    expect(result.evaluations.map((e) => e.step)).toEqual([0, 2, 4, 5]);
    expect(result.evaluations[0]!.metrics['eval_accuracy']).toBe(await greedyAccuracy({ ...withEval, model: initial }, 6));
    expect(ms[4]!['eval_accuracy']).toBe(await greedyAccuracy(withEval, 6));
    expect(events.some((e) => e.type === 'log' && e.message.startsWith('test accuracy before EM'))).toBe(true);
    const off = metricsOf(await run(new EmStage('em', config({ steps: 1 })), { policy: plain, task, seed: 4 }));
    expect(off[0]).not.toHaveProperty('eval_accuracy');
    [plain, withEval].forEach((x) => x.model.dispose());
    initial.dispose();
  });
});

describe('the EM stage names its two temperatures', () => {
  it('entropyTemperature is the loss tau (default 0.5); temperature is its accepted old name; both at once is an error', () => {
    expect(emEntropyTemperature(EmStageConfigSchema.parse({}))).toBe(0.5);
    expect(emEntropyTemperature(EmStageConfigSchema.parse({ entropyTemperature: 0.7 }))).toBe(0.7);
    expect(emEntropyTemperature(EmStageConfigSchema.parse({ temperature: 0.3 }))).toBe(0.3);
    // The resolved config names tau once, under the new name, so config.json re-parses to the same run.
    const resolved = EmStageConfigSchema.parse({ temperature: 0.3 });
    expect(resolved).toMatchObject({ entropyTemperature: 0.3 });
    expect('temperature' in resolved).toBe(false);
    expect(EmStageConfigSchema.parse(JSON.parse(JSON.stringify(resolved)))).toEqual(resolved);
    expect(() => EmStageConfigSchema.parse({ temperature: 0.3, entropyTemperature: 0.7 })).toThrow(/entropyTemperature .* or its old name temperature, not both/);
    expect(EmStageConfigSchema.parse({}).sampleTemperature).toBe(1);
  });
});
