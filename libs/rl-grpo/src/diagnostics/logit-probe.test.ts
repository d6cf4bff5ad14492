import * as tf from '@tensorflow/tfjs-core';
import { ByteTokenizer } from '@emrl/lm';
import { makeTinyModel, setupTestBackend } from '@emrl/lm/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeLogitStatistics } from './logit-probe';
import type { Policy } from '../policy';
import type { Task, TaskExample } from '../tasks/task';

const tok = new ByteTokenizer();
let a: Policy;
let b: Policy;
beforeAll(async () => {
  await setupTestBackend();
  a = { model: makeTinyModel({ family: 'gpt2', vocabSize: 258, seed: 1, weightScale: 3 }), tokenizer: tok, name: 'a' };
  b = { model: makeTinyModel({ family: 'gpt2', vocabSize: 258, seed: 2, weightScale: 3 }), tokenizer: tok, name: 'b' };
});
afterAll(() => {
  a.model.dispose();
  b.model.dispose();
});

const examples: TaskExample[] = [
  { id: '0', prompt: 'x=', answer: '1' },
  { id: '1', prompt: 'long prompt=', answer: '2' },
  { id: '2', prompt: 'q', answer: '3' },
];
const task: Task = {
  name: 't',
  split: () => examples,
  verify: () => ({ correct: false, extracted: null, formatOk: false }),
  extractAnswer: () => null,
  stopSequences: ['$'],
  maxCompletionLength: 4,
};
const fixed = [tok.encode('12$'), tok.encode('7'), tok.encode('abcd')];

/** Full-vocabulary entropy (nats, tau = 1) at each response-predicting position, each example run alone (no padding). */
function entropiesByHand(policy: Policy, responses: number[][]): number[] {
  const out: number[] = [];
  examples.forEach((ex, i) => {
    const p = tok.encode(ex.prompt);
    const ids = [...p, ...responses[i]!];
    const logits = tf.tidy(() => policy.model.forward(tf.tensor2d([ids], undefined, 'int32')).arraySync()[0]!);
    for (let t = p.length - 1; t < ids.length - 1; t++) {
      const z = logits[t]!;
      const m = Math.max(...z);
      const e = z.map((x) => Math.exp(x - m));
      const Z = e.reduce((s, x) => s + x, 0);
      out.push(-e.reduce((s, x) => s + (x / Z) * Math.log(x / Z), 0));
    }
  });
  return out;
}

describe('probeLogitStatistics', () => {
  it('fixed responses: the same model gives identical figures twice, computed at the response positions', async () => {
    const r1 = await probeLogitStatistics(a, task, { examples, responses: fixed });
    const r2 = await probeLogitStatistics(a, task, { examples, responses: fixed });
    expect(r1.stats).toEqual(r2.stats);
    expect(r1.responseSource).toBe('fixed');
    expect(r1.sampleTemperature).toBeNull();
    expect(r1.responses).toEqual(fixed);
    expect(r1.stats.meta.positions).toBe(3 + 1 + 4);
    expect(r1.stats.meta.sequences).toBe(3);
    const h = entropiesByHand(a, fixed);
    expect(r1.stats.figures['entropy/per_position_mean']).toBeCloseTo(h.reduce((s, x) => s + x, 0) / h.length, 4);
    // Another checkpoint on the same positions gives different figures.
    const other = await probeLogitStatistics(b, task, { examples, responses: fixed });
    expect(other.stats.meta.positions).toBe(r1.stats.meta.positions);
    expect(other.stats.figures['entropy/per_position_mean']).not.toBe(r1.stats.figures['entropy/per_position_mean']);
  });

  it('own samples: the returned responses reproduce the figures when passed back as fixed responses', async () => {
    const own = await probeLogitStatistics(a, task, { examples, sampleTemperature: 1, seed: 4 });
    expect(own.responseSource).toBe('own-samples');
    expect(own.sampleTemperature).toBe(1);
    expect(own.responses).toHaveLength(3);
    expect(own.responses.every((r) => r.length >= 1 && r.length <= 4)).toBe(true);
    const again = await probeLogitStatistics(a, task, { examples, responses: own.responses });
    expect(again.stats).toEqual(own.stats);
    // Same seed, same samples.
    expect((await probeLogitStatistics(a, task, { examples, sampleTemperature: 1, seed: 4 })).responses).toEqual(own.responses);
  });

  it('does not leak tensors and rejects a response count that does not match', async () => {
    const before = tf.memory().numTensors;
    await probeLogitStatistics(a, task, { examples, responses: fixed, stats: { topK: 5 } });
    expect(tf.memory().numTensors).toBe(before);
    await expect(probeLogitStatistics(a, task, { examples, responses: fixed.slice(0, 2) })).rejects.toThrow(/2 fixed responses for 3 probe prompts/);
    await expect(probeLogitStatistics(a, task, { examples: [] })).rejects.toThrow(/no probe examples/);
  });
});

describe('probeLogitStatistics maxNewTokens', () => {
  it('bounds own samples below the task limit', async () => {
    const long: Task = { ...task, stopSequences: [], maxCompletionLength: 40 };
    const capped = await probeLogitStatistics(a, long, { examples, sampleTemperature: 1, seed: 4, maxNewTokens: 2 });
    expect(capped.responses.every((r) => r.length >= 1 && r.length <= 2)).toBe(true);
    const free = await probeLogitStatistics(a, long, { examples, sampleTemperature: 1, seed: 4 });
    expect(Math.max(...free.responses.map((r) => r.length))).toBeGreaterThan(2);
  });
});

/** |x - y| <= tol * max(1, |y|) for every figure (null on both sides counts as equal). */
function expectFiguresClose(x: Record<string, number | null>, y: Record<string, number | null>, tol: number): void {
  expect(Object.keys(x)).toEqual(Object.keys(y));
  for (const [name, v] of Object.entries(y)) {
    const u = x[name];
    if (v === null || u === null) {
      expect([name, u]).toEqual([name, v]);
      continue;
    }
    expect(Math.abs(u! - v) / Math.max(1, Math.abs(v)), name).toBeLessThanOrEqual(tol);
  }
}

describe('probeLogitStatistics chunked from hidden states', () => {
  const models: [string, () => Policy][] = [
    ['gpt2 (untied head)', () => a],
    ['llama (tied embedding head)', () => ({ model: makeTinyModel({ family: 'llama', vocabSize: 258, seed: 3, weightScale: 3 }), tokenizer: tok, name: 'l' })],
  ];
  it.each(models)('%s: a one-row chunk budget gives the whole-logits figures to 1e-5, per sequence and histogram too', async (_, make) => {
    const p = make();
    const stats = { topK: 7, histogram: { min: -30, max: 30, bins: 40 } };
    const whole = await probeLogitStatistics(p, task, { examples, responses: fixed, stats });
    const before = tf.memory().numTensors;
    // 1 byte: past a quarter of the budget, so the chunked path, one position per chunk.
    const chunked = await probeLogitStatistics(p, task, { examples, responses: fixed, stats, logitsBudgetBytes: 1 });
    expect(tf.memory().numTensors).toBe(before);
    // Three positions per chunk, straddling sequences.
    const three = await probeLogitStatistics(p, task, { examples, responses: fixed, stats: { ...stats, chunkElements: 3 * 258 }, logitsBudgetBytes: 1 });
    expect(whole.logitsPath).toBe('plain');
    // Blocks of 5 positions from the head (a 5-row budget), statistics on slices of 2, 2 and 1 rows.
    const sliced = await probeLogitStatistics(p, task, { examples, responses: fixed, stats: { ...stats, chunkElements: 2 * 258 }, logitsBudgetBytes: 5 * 258 * 4 });
    for (const r of [chunked, three, sliced]) {
      expect(r.logitsPath).toBe('chunked');
      expect(r.stats.meta).toEqual(whole.stats.meta);
      expectFiguresClose(r.stats.figures, whole.stats.figures, 1e-5);
      expect(r.stats.perSequence.map((s) => [s.sequence, s.positions])).toEqual(whole.stats.perSequence.map((s) => [s.sequence, s.positions]));
      r.stats.perSequence.forEach((s, i) => expectFiguresClose(s, whole.stats.perSequence[i]!, 1e-5));
      expect(r.stats.histogram.total).toBe(whole.stats.histogram.total);
      expect(r.stats.histogram.counts).toEqual(whole.stats.histogram.counts);
    }
    // The whole-logits path differs from another model's figures by far more than the tolerance.
    expect(Math.abs(chunked.stats.figures['entropy/per_position_mean']! - (await probeLogitStatistics(b, task, { examples, responses: fixed })).stats.figures['entropy/per_position_mean']!)).toBeGreaterThan(1e-3);
    if (p !== a) p.model.dispose();
  });
});
