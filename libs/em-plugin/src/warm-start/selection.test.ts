import { describe, expect, it } from 'vitest';
import type { TaskExample, Verdict } from '@emrl/rl-grpo';
import { rankPromptsByVariance, selectOneShotPrompts, type PromptRecord } from './selection';

const rec = (id: string, correct: number[], lengths: number[]): PromptRecord => ({
  id,
  prompt: `prompt ${id}`,
  correct: correct.map((c) => c === 1),
  responseLengths: lengths,
});

describe('rankPromptsByVariance', () => {
  it('ranks by p (1 - p), highest first', () => {
    const r = rankPromptsByVariance([rec('all', [1, 1, 1, 1], [5]), rec('quarter', [1, 0, 0, 0], [5]), rec('half', [1, 0, 1, 0], [5])]);
    expect(r.ranking.map((x) => x.id)).toEqual(['half', 'quarter', 'all']);
    expect(r.ranking[0]).toMatchObject({ p: 0.5, variance: 0.25, rank: 1, k: 4, correctCount: 2 });
    expect(r.ranking[1]!.variance).toBeCloseTo(0.1875, 12);
    expect(r.selected.map((x) => x.id)).toEqual(['half']);
  });

  it("breaks ties toward longer responses with 'longer-responses' and records it", () => {
    const records = [rec('short', [1, 0], [3, 5]), rec('long', [0, 1], [20, 30]), rec('mid', [1, 0], [10, 10]), rec('zero', [0, 0], [99])];
    for (const seed of [0, 1, 2, 3]) {
      const r = rankPromptsByVariance(records, { tieBreak: 'longer-responses', seed, topN: 2 });
      expect(r.ranking.map((x) => x.id)).toEqual(['long', 'mid', 'short', 'zero']);
      expect(r.selected.map((x) => x.id)).toEqual(['long', 'mid']);
      expect(r.ranking[0]).toMatchObject({ tiedWith: 2, meanLength: 25 });
      expect(r.explanation).toMatch(/longer responses/);
    }
  });

  it("with 'seed' the order of tied prompts depends on the seed only, deterministically", () => {
    const records = Array.from({ length: 8 }, (_, i) => rec(`p${i}`, [1, 0], [i]));
    const orders = new Set<string>();
    for (const seed of [1, 2, 3, 4, 5]) {
      const a = rankPromptsByVariance(records, { tieBreak: 'seed', seed }).ranking.map((x) => x.id).join(',');
      const b = rankPromptsByVariance(records, { tieBreak: 'seed', seed }).ranking.map((x) => x.id).join(',');
      expect(a).toBe(b);
      orders.add(a);
    }
    expect(orders.size).toBeGreaterThan(1);
  });

  it('rejects a record without responses', () => {
    expect(() => rankPromptsByVariance([rec('x', [], [])])).toThrow(/no sampled responses/);
  });
});

describe('selectOneShotPrompts', () => {
  // Fake task: the answer is correct when the completion ends with "#<answer>$".
  const task = {
    verify: (c: string, ex: TaskExample): Verdict => {
      const m = /#(.*)\$$/.exec(c);
      return { correct: m?.[1] === ex.answer, extracted: m?.[1] ?? null, formatOk: m !== null };
    },
  };
  const candidates: TaskExample[] = [
    { id: 'a', prompt: 'A=', answer: '1' },
    { id: 'b', prompt: 'B=', answer: '2' },
    { id: 'c', prompt: 'C=', answer: '3' },
  ];
  // a: always right; b: right half the time with long responses; c: right 1/4 of the time.
  const plan: Record<string, (i: number) => string> = {
    'A=': () => '#1$',
    'B=': (i) => (i % 2 ? 'long reasoning #2$' : 'long reasoning #9$'),
    'C=': (i) => (i % 4 === 0 ? '#3$' : '#0$'),
  };

  it('samples, verifies, ranks and reports the cost', async () => {
    const calls: string[][] = [];
    const result = await selectOneShotPrompts({
      sample: async (prompts, k) => {
        calls.push(prompts);
        return prompts.map((p) => Array.from({ length: k }, (_, i) => plan[p]!(i)));
      },
      task,
      candidates,
      k: 8,
      batchSize: 2,
    });
    expect(calls).toEqual([['A=', 'B='], ['C=']]);
    expect(result.selected[0]!.id).toBe('b');
    expect(result.ranking.map((r) => [r.id, r.p])).toEqual([
      ['b', 0.5],
      ['c', 0.25],
      ['a', 1],
    ]);
    expect(result.cost).toEqual({ generations: 24, samplerCalls: 2, lengthUnit: 'characters' });
    expect(result.records.find((r) => r.id === 'b')!.responseLengths[0]).toBe('long reasoning #9$'.length);
  });

  it('uses token counts when the sampler reports them', async () => {
    const result = await selectOneShotPrompts({
      sample: async (prompts, k) => ({
        completions: prompts.map((p) => Array.from({ length: k }, (_, i) => plan[p]!(i))),
        tokenCounts: prompts.map(() => Array.from({ length: k }, () => 7)),
      }),
      task,
      candidates,
      k: 4,
    });
    expect(result.cost).toEqual({ generations: 12, samplerCalls: 1, tokens: 84, lengthUnit: 'tokens' });
  });

  it('rejects a sampler that returns the wrong number of completions', async () => {
    await expect(
      selectOneShotPrompts({ sample: async (prompts) => prompts.map(() => ['#1$']), task, candidates, k: 2 }),
    ).rejects.toThrow(/expected k = 2/);
  });
});
