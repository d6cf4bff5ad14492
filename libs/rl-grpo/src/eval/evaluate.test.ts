import { ByteTokenizer } from '@emrl/lm';
import { makeTinyModel, setupTestBackend } from '@emrl/lm/testing';
import { lastValueFrom, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Policy } from '../policy';
import { sampleGroups } from '../grpo/rollout';
import { streamSeed } from '../seed';
import type { StageEvent } from '../stage-kit/stage';
import { EvalStage, evalStageFactory } from './eval-stage';
import type { Task, TaskExample } from '../tasks/task';
import { answerSpanLogprobs, evaluate, type TemperatureResult } from './evaluate';

let policy: Policy;
beforeAll(async () => {
  await setupTestBackend();
  // weightScale 10: peaked logits, so samples of a prompt often agree (non-trivial maj@k).
  policy = { model: makeTinyModel({ family: 'gpt2', vocabSize: 258, seed: 2, weightScale: 10 }), tokenizer: new ByteTokenizer(), name: 'tiny' };
});
afterAll(() => policy.model.dispose());

const examples: TaskExample[] = Array.from({ length: 6 }, (_, i) => ({ id: `q${i}`, prompt: `q${i}=`, answer: String(i % 3) }));
/** Answer = first character when it is printable ASCII (else a format failure); correct iff its code % 3 = answer. */
const extract = (c: string): string | null => (c.length && /[!-~]/.test(c[0]!) ? c[0]! : null);
const task: Task = {
  name: 'mod3',
  split: (name) => (name === 'test' ? examples : []),
  verify: (c, ex) => {
    const a = extract(c);
    return { correct: a !== null && a.charCodeAt(0) % 3 === Number(ex.answer), extracted: a, formatOk: a !== null };
  },
  extractAnswer: extract,
  stopSequences: ['$'],
  maxCompletionLength: 3,
  describeCompletion: (c) => ({ starts_with_space: c.startsWith(' ') ? 1 : 0 }),
};

function binom(n: number, k: number): number {
  let r = 1;
  for (let i = 0; i < k; i++) r = (r * (n - i)) / (i + 1);
  return r;
}

/** The figures of one temperature recomputed from the completions (same sampling streams as evaluate). */
async function byHand(temperature: number, k: number, seed: number) {
  const r = await sampleGroups(policy, task, examples, k, { temperature, topP: 1, topK: 0, maxNewTokens: 3, seed, rowSeed: (ex, g) => streamSeed(seed, 'eval', temperature, ex.id, g) });
  let correct = 0;
  let formatFail = 0;
  let maj = 0;
  let pass2 = 0;
  let space = 0;
  for (let p = 0; p < examples.length; p++) {
    const rows = r.completions.slice(p * k, p * k + k);
    const verdicts = rows.map((c) => task.verify(c, examples[p]!));
    const c = verdicts.filter((v) => v.correct).length;
    correct += c;
    formatFail += verdicts.filter((v) => !v.formatOk).length;
    space += rows.filter((s) => s.startsWith(' ')).length;
    if (k >= 2) pass2 += 1 - binom(k - c, 2) / binom(k, 2);
    // Majority: most frequent non-null answer, ties to the first seen.
    const counts = new Map<string, number>();
    for (const v of verdicts) if (v.extracted !== null) counts.set(v.extracted, (counts.get(v.extracted) ?? 0) + 1);
    let best: string | null = null;
    let n = 0;
    for (const [a, m] of counts) if (m > n) [best, n] = [a, m];
    if (best !== null && best.charCodeAt(0) % 3 === Number(examples[p]!.answer)) maj++;
  }
  const N = examples.length * k;
  return {
    accuracy: correct / N,
    formatFailureRate: formatFail / N,
    majAtK: maj / examples.length,
    pass1: correct / N,
    pass2: pass2 / examples.length,
    passK: examples.filter((_, p) => r.completions.slice(p * k, p * k + k).some((c) => task.verify(c, examples[p]!).correct)).length / examples.length,
    meanLength: r.completionIds.reduce((a, t) => a + t.length, 0) / N,
    truncatedRate: r.truncated.filter((t) => t).length / N,
    space: space / N,
    tokens: r.numGeneratedTokens,
  };
}

function check(t: TemperatureResult, h: Awaited<ReturnType<typeof byHand>>, k: number) {
  expect(t.samplesPerPrompt).toBe(k);
  expect(t.accuracy).toBeCloseTo(h.accuracy, 12);
  expect(t.formatFailureRate).toBeCloseTo(h.formatFailureRate, 12);
  expect(t.majAtK).toBeCloseTo(h.majAtK, 12);
  expect(t.meanLength).toBeCloseTo(h.meanLength, 12);
  expect(t.truncatedRate).toBeCloseTo(h.truncatedRate, 12);
  expect(t.extra['starts_with_space']).toBeCloseTo(h.space, 12);
  expect(t.passAtK['1']).toBeCloseTo(h.pass1, 12);
  expect(t.passAtK[String(k)]).toBeCloseTo(h.passK, 12);
  if (k >= 2) expect(t.passAtK['2']).toBeCloseTo(h.pass2, 12);
}

describe('evaluate', () => {
  it('accuracy, pass@k, maj@k, format failures and lengths agree with a hand computation from the completions', async () => {
    const res = await evaluate(policy, task, { temperatures: [0, 1], samples: 4 }, { seed: 1 });
    expect(res.numPrompts).toBe(6);
    expect(res.byTemperature.map((t) => t.temperature)).toEqual([0, 1]);
    const greedy = await byHand(0, 1, 1);
    const hot = await byHand(1, 4, 1);
    check(res.byTemperature[0]!, greedy, 1);
    check(res.byTemperature[1]!, hot, 4);
    expect(res.generatedTokens).toBe(greedy.tokens + hot.tokens);
    // The figures are informative for this fixture (not all 0 or all 1).
    expect(hot.accuracy).toBeGreaterThan(0);
    expect(hot.accuracy).toBeLessThan(1);
    expect(Object.keys(res.byTemperature[1]!.passAtK).sort()).toEqual(['1', '2', '4']);
    // Greedy: one sample, so only the sequence-probability calibration; k > 1 adds sample-consistency.
    expect(res.byTemperature[0]!.calibration.map((c) => c.method)).toEqual(['sequence-probability']);
    const cal = res.byTemperature[1]!.calibration;
    expect(cal.map((c) => c.method)).toEqual(['sample-consistency', 'sequence-probability']);
    expect(cal[0]!.n).toBe(6);
    expect(cal[1]!.n).toBe(24);
    for (const c of cal) {
      expect(c.ece).toBeGreaterThanOrEqual(0);
      expect(c.brier).toBeGreaterThanOrEqual(0);
      expect(c.meanConfidence).toBeGreaterThan(0);
      expect(c.meanConfidence).toBeLessThanOrEqual(1);
    }
  });

  it('greedy and sampled results do not depend on the generate batch size; limit takes the first prompts', async () => {
    const cfg = { temperatures: [0, 1], samples: 4, limit: 5 };
    const a = await evaluate(policy, task, cfg, { seed: 1 });
    const b = await evaluate(policy, task, { ...cfg, batchSize: 3 }, { seed: 1 });
    const c = await evaluate(policy, task, { ...cfg, batchSize: 8 }, { seed: 1 });
    expect(a.numPrompts).toBe(5);
    for (const other of [b, c]) {
      other.byTemperature.forEach((r, i) => {
        const ref = a.byTemperature[i]!;
        expect(r.accuracy).toBe(ref.accuracy);
        expect(r.meanLength).toBe(ref.meanLength);
        expect(r.passAtK).toEqual(ref.passAtK);
        expect(r.majAtK).toEqual(ref.majAtK);
      });
    }
    // the sampled figures are not degenerate (the comparison could fail)
    const t1 = a.byTemperature[1]!;
    expect(t1.accuracy).toBeGreaterThan(0);
    expect(t1.accuracy).toBeLessThan(1);
  });

  it('names an empty split', async () => {
    await expect(evaluate(policy, task, { split: 'train' }, { seed: 0 })).rejects.toThrow(/task "mod3" has no prompts in split "train"/);
  });
});

describe('EvalStage', () => {
  it('emits started, progress, metrics and finished with the evaluation result and the unchanged policy', async () => {
    const stage = evalStageFactory.create('eval-0', evalStageFactory.schema.parse({ temperatures: [0, 1], samples: 2 }));
    expect(stage).toBeInstanceOf(EvalStage);
    const events = await lastValueFrom(stage.run({ policy, task, seed: 5 }).pipe(toArray()));
    expect(events[0]).toMatchObject({ type: 'started', stage: 'eval-0', kind: 'eval', totalSteps: 2 });
    expect(events.some((e) => e.type === 'progress')).toBe(true);
    const fin = events[events.length - 1] as Extract<StageEvent, { type: 'finished' }>;
    expect(fin.type).toBe('finished');
    expect(fin.policy).toBe(policy);
    const direct = await evaluate(policy, task, { temperatures: [0, 1], samples: 2 }, { seed: 5 });
    const result = fin.result as typeof direct;
    expect(result.byTemperature.map((t) => t.accuracy)).toEqual(direct.byTemperature.map((t) => t.accuracy));
    expect(fin.summary['eval/accuracy@t1']).toBe(direct.byTemperature[1]!.accuracy);
    expect(fin.summary['eval/maj_at_k@t0']).toBe(direct.byTemperature[0]!.majAtK);
    const metrics = events.find((e) => e.type === 'metrics') as Extract<StageEvent, { type: 'metrics' }>;
    expect(metrics.metrics).toEqual(fin.summary);
  });
});

describe('answerSpanLogprobs', () => {
  it('returns the log-probs of exactly the tokens spelling the last occurrence of the answer', () => {
    const tok = new ByteTokenizer();
    const text = '12+5=17;x=12#12$';
    const ids = tok.encode(text);
    const lps = ids.map((_, i) => -i); // log-prob i marks token i
    const span = answerSpanLogprobs({ ...policy, tokenizer: tok }, ids, lps, '12');
    const at = text.lastIndexOf('12');
    expect(span).toEqual([-at, -(at + 1)]);
    expect(answerSpanLogprobs({ ...policy, tokenizer: tok }, ids, lps, '99')).toEqual([]);
    // a two-byte character is two byte tokens: both belong to the answer
    const t2 = 'x#é$';
    const ids2 = tok.encode(t2);
    expect(ids2).toHaveLength(5);
    expect(answerSpanLogprobs({ ...policy, tokenizer: tok }, ids2, ids2.map((_, i) => -i), 'é')).toEqual([-2, -3]);
  });
});
