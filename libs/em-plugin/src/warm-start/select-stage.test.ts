import { lastValueFrom, toArray } from 'rxjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ByteTokenizer } from '@emrl/lm';
import { makeTinyModel, setupTestBackend } from '@emrl/lm/testing';
import { createTask, type StageEvent, type Task } from '@emrl/rl-grpo';
import { SelectStage, SelectStageConfigSchema } from './select-stage';
import type { SelectionResult } from './selection';

const base = createTask({ type: 'modchain', trainSize: 50, testSize: 20, probeSize: 8, maxOps: 2 });
// A random tiny model is never right on modchain; grade "even length" so p varies across prompts.
const task: Task = {
  name: 'even-length',
  stopSequences: base.stopSequences,
  maxCompletionLength: 8,
  split: (s) => base.split(s),
  extractAnswer: (c) => base.extractAnswer(c),
  verify: (c) => ({ correct: c.length % 2 === 0, extracted: null, formatOk: true }),
};
const tokenizer = new ByteTokenizer();

beforeAll(async () => {
  await setupTestBackend();
});

describe('SelectStage', () => {
  it('ranks candidates by p(1-p), reports the cost and explains the pick', async () => {
    const model = makeTinyModel({ family: 'gpt2', vocabSize: tokenizer.vocabSize });
    const policy = { model, tokenizer, name: 'tiny' };
    const config = SelectStageConfigSchema.parse({ candidates: 6, samplesPerPrompt: 4, topN: 2, batchSize: 8 });
    const events: StageEvent[] = await lastValueFrom(new SelectStage('select', config).run({ policy, task, seed: 11 }).pipe(toArray()));
    expect(events[0]).toMatchObject({ type: 'started', kind: 'select', totalSteps: 6 });
    const fin = events.at(-1)!;
    if (fin.type !== 'finished') throw new Error(`last event is ${fin.type}`);
    const result = fin.result as SelectionResult;

    expect(result.ranking).toHaveLength(6);
    expect(result.cost.generations).toBe(6 * 4);
    expect(fin.summary['select/generations']).toBe(24);
    // batchSize 8 / k 4 = 2 prompts per generate call
    expect(result.cost.samplerCalls).toBe(3);
    expect(events.filter((e) => e.type === 'progress').map((e) => (e as { step: number }).step)).toEqual([2, 4, 6]);
    const candidates = base.split('train').slice(0, 6).map((e) => e.prompt);
    for (const row of result.ranking) {
      const rec = result.records.find((r) => r.id === row.id)!;
      expect(candidates).toContain(row.prompt);
      expect(rec.correct).toHaveLength(4);
      expect(row.p).toBe(rec.correct.filter(Boolean).length / 4);
      expect(row.variance).toBeCloseTo(row.p * (1 - row.p), 12);
    }
    const variances = result.ranking.map((r) => r.variance);
    expect(variances).toEqual([...variances].sort((a, b) => b - a));
    expect(result.selected).toEqual(result.ranking.slice(0, 2));
    expect(fin.summary['select/top_variance']).toBe(result.ranking[0]!.variance);
    expect(new Set(variances).size).toBeGreaterThan(1); // the grader is not degenerate
    const log = events.find((e) => e.type === 'log');
    expect(log && log.type === 'log' && log.message).toBe(result.explanation);
    expect(result.explanation).toContain(`picked "${result.ranking[0]!.id}"`);
    model.dispose();
  });
});
