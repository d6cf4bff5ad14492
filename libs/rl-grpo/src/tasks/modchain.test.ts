import { describe, expect, it } from 'vitest';
import { ModchainConfigSchema, ModchainTask, modchainPromptCount } from './modchain';
import type { TaskExample } from './task';

/** Independent evaluator: +,-,* are ring maps mod m, so evaluate left to right over BigInt and reduce once. */
function evaluateIndependently(prompt: string, modulus: number): string {
  const tokens = prompt.slice(0, -1).match(/\d+|[+\-*]/g) ?? [];
  let acc = BigInt(tokens[0] as string);
  for (let i = 1; i < tokens.length; i += 2) {
    const b = BigInt(tokens[i + 1] as string);
    const op = tokens[i];
    acc = op === '+' ? acc + b : op === '-' ? acc - b : acc * b;
  }
  const m = BigInt(modulus);
  return String(((acc % m) + m) % m);
}

const task = new ModchainTask();
const example = (prompt: string, answer: string): TaskExample => ({ id: 'x', prompt, answer });

describe('ModchainTask config', () => {
  it('has the documented defaults and lengths', () => {
    expect(task.config).toMatchObject({ modulus: 10, minOps: 1, maxOps: 6, noise: 0.1, pDirect: 0.4, trainSize: 2000, testSize: 200, probeSize: 32 });
    expect(task.maxCompletionLength).toBe(38); // "a+b=r" x6, 5 ';', '#', digit, '$'
    expect(task.promptLength).toBe(14);
    expect(task.stopSequences).toEqual(['$']);
  });

  it('rejects inconsistent knobs with the field and the fix', () => {
    expect(() => new ModchainTask({ minOps: 4, maxOps: 2 })).toThrow(/minOps \(4\) must be <= maxOps \(2\)/);
    expect(() => new ModchainTask({ maxOps: 1 })).toThrow(/only 300.*lower the split sizes or raise maxOps/s);
    expect(ModchainConfigSchema.safeParse({ modulus: 1 }).success).toBe(false);
  });

  it('counts distinct prompts', () => {
    expect(modchainPromptCount(10, 1, 1, 3)).toBe(300);
    expect(modchainPromptCount(10, 1, 2, 3)).toBe(300 + 9000);
  });
});

describe('ModchainTask splits', () => {
  it('have the configured sizes, are disjoint and respect the op range', () => {
    const all = (['train', 'test', 'probe'] as const).flatMap((s) => task.split(s));
    expect(task.split('train')).toHaveLength(2000);
    expect(task.split('test')).toHaveLength(200);
    expect(task.split('probe')).toHaveLength(32);
    expect(new Set(all.map((e) => e.prompt)).size).toBe(all.length);
    expect(new Set(all.map((e) => e.id)).size).toBe(all.length);
    for (const e of all) {
      const ops = (e.prompt.match(/[+\-*]/g) ?? []).length;
      expect(ops).toBeGreaterThanOrEqual(1);
      expect(ops).toBeLessThanOrEqual(6);
      expect(e.prompt.length).toBeLessThanOrEqual(task.promptLength);
      expect(e.prompt.endsWith('=')).toBe(true);
    }
    // all op counts appear (uniform 1..6)
    expect(new Set(all.map((e) => (e.prompt.match(/[+\-*]/g) ?? []).length)).size).toBe(6);
  });

  it('are deterministic in the seed and stable when trainSize changes', () => {
    const again = new ModchainTask();
    expect(again.split('test')).toEqual(task.split('test'));
    expect(again.split('train')).toEqual(task.split('train'));
    const smaller = new ModchainTask({ trainSize: 10 });
    expect(smaller.split('test')).toEqual(task.split('test'));
    expect(smaller.split('probe')).toEqual(task.split('probe'));
    const other = new ModchainTask({ seed: 1 });
    expect(other.split('test').map((e) => e.prompt)).not.toEqual(task.split('test').map((e) => e.prompt));
  });

  it('answers agree with an independent evaluator, for other moduli too', () => {
    for (const e of [...task.split('test'), ...task.split('train')]) {
      expect(e.answer).toBe(evaluateIndependently(e.prompt, 10));
    }
    const m7 = new ModchainTask({ modulus: 7, trainSize: 50, testSize: 50, probeSize: 0 });
    for (const e of m7.split('train')) expect(e.answer).toBe(evaluateIndependently(e.prompt, 7));
    const m13 = new ModchainTask({ modulus: 13, trainSize: 50, testSize: 50, probeSize: 0 });
    for (const e of m13.split('test')) {
      expect(e.answer).toBe(evaluateIndependently(e.prompt, 13));
      expect(m13.referenceCompletion(e).length).toBeLessThanOrEqual(m13.maxCompletionLength);
    }
  });
});

describe('ModchainTask solutions and verifier', () => {
  it('writes the chain of thought of the embedded-lab doc', () => {
    expect(task.referenceCompletion(example('3+5*2-7=', '9'))).toBe('3+5=8;8*2=6;6-7=9#9$');
    expect(task.referenceCompletion(example('0-7=', '3'))).toBe('0-7=3#3$');
  });

  it('reference completions are correct, well formed and within maxCompletionLength', () => {
    let longest = 0;
    for (const e of task.split('train')) {
      const c = task.referenceCompletion(e);
      longest = Math.max(longest, c.length);
      expect(task.verify(c, e)).toEqual({ correct: true, extracted: e.answer, formatOk: true });
      const d = task.describeCompletion(c, e);
      expect(d).toEqual({ direct: 0, steps: (e.meta as { ops: number }).ops, wellFormed: 1, stepErrors: 0 });
    }
    expect(longest).toBeLessThanOrEqual(38);
  });

  it('rejects near misses', () => {
    const e = example('3+5*2-7=', '9');
    expect(task.verify('3+5=8;8*2=6;6-7=9#9$', e).correct).toBe(true);
    expect(task.verify('#9$', e)).toEqual({ correct: true, extracted: '9', formatOk: true });
    expect(task.verify('3+5=8;8*2=6;6-7=9#8$', e)).toEqual({ correct: false, extracted: '8', formatOk: true });
    expect(task.verify('3+5=8;8*2=6;6-7=9#9', e)).toEqual({ correct: false, extracted: null, formatOk: false }); // no stop
    expect(task.verify('3+5=8;8*2=6;6-7=9# 9$', e).correct).toBe(false);
    expect(task.verify('3+5=8;8*2=6;6-7=9#09$', e).correct).toBe(false);
    expect(task.verify('3+5=8;8*2=6;6-7=9#19$', e).correct).toBe(false);
    expect(task.verify('3+5=8;8*2=6;6-7=9', e).formatOk).toBe(false);
  });

  it('describes direct, malformed and wrong-step completions', () => {
    const e = example('3+5*2-7=', '9');
    expect(task.describeCompletion('#4$', e)).toEqual({ direct: 1, steps: 0, wellFormed: 1, stepErrors: 0 });
    expect(task.describeCompletion('3+5=8;8*2=7;7-7=0#0$', e)).toEqual({ direct: 0, steps: 3, wellFormed: 1, stepErrors: 1 });
    expect(task.describeCompletion('3+5=8;8*2=6;6-7', e)).toMatchObject({ direct: 0, steps: 2, wellFormed: 0 });
    expect(task.describeCompletion('3+5=8#8#8$', e).wellFormed).toBe(0);
    expect(task.describeCompletion('3+5=8;x#8$', e)).toMatchObject({ steps: 1, wellFormed: 0 });
  });
});

describe('ModchainTask pretraining documents', () => {
  const n = 6000;
  const docs = task.pretrainingDocuments(n, 7);

  it('are deterministic in the seed and never use a test or probe prompt', () => {
    expect(task.pretrainingDocuments(50, 7)).toEqual(docs.slice(0, 50));
    expect(task.pretrainingDocuments(50, 8)).not.toEqual(docs.slice(0, 50));
    const held = new Set([...task.split('test'), ...task.split('probe')].map((e) => e.prompt));
    for (const d of docs) expect(held.has(d.slice(0, d.indexOf('=') + 1))).toBe(false);
  });

  it('match the noise and pDirect knobs within sampling error', () => {
    let direct = 0;
    let directRight = 0;
    let steps = 0;
    let wrongSteps = 0;
    for (const doc of docs) {
      const eq = doc.indexOf('=');
      const prompt = doc.slice(0, eq + 1);
      const completion = doc.slice(eq + 1);
      const e = example(prompt, evaluateIndependently(prompt, 10));
      const d = task.describeCompletion(completion, e);
      expect(d.wellFormed).toBe(1);
      if (d.direct === 1) {
        direct++;
        if (task.verify(completion, e).correct) directRight++;
        continue;
      }
      steps += d.steps!;
      wrongSteps += d.stepErrors!;
      // later steps continue from the shown (possibly wrong) value
      const parts = completion.slice(0, completion.indexOf('#')).split(';');
      for (let i = 1; i < parts.length; i++) {
        expect(parts[i]!.match(/^\d+/)![0]).toBe(parts[i - 1]!.split('=')[1]);
      }
      expect(completion.slice(completion.indexOf('#') + 1, -1)).toBe(parts.at(-1)!.split('=')[1]);
    }
    const se = (p: number, k: number): number => 4 * Math.sqrt((p * (1 - p)) / k);
    expect(Math.abs(direct / n - 0.4)).toBeLessThan(se(0.4, n));
    expect(Math.abs(wrongSteps / steps - 0.1)).toBeLessThan(se(0.1, steps));
    // direct guesses are uniform digits: right about 1 time in 10
    expect(Math.abs(directRight / direct - 0.1)).toBeLessThan(se(0.1, direct));
  });

  it('follow the knobs at the extremes', () => {
    const clean = new ModchainTask({ noise: 0, pDirect: 0, trainSize: 10, testSize: 10, probeSize: 0 });
    for (const doc of clean.pretrainingDocuments(300, 1)) {
      const eq = doc.indexOf('=');
      const e = example(doc.slice(0, eq + 1), evaluateIndependently(doc.slice(0, eq + 1), 10));
      expect(clean.verify(doc.slice(eq + 1), e).correct).toBe(true);
      expect(clean.describeCompletion(doc.slice(eq + 1), e).direct).toBe(0);
    }
    const allDirect = new ModchainTask({ pDirect: 1, trainSize: 10, testSize: 10, probeSize: 0 });
    expect(allDirect.pretrainingDocuments(100, 1).every((d) => /^[\d+\-*]+=#\d\$$/.test(d))).toBe(true);
  });
});

describe('ModchainTask.pretrainingDistributionAccuracy', () => {
  it('matches closed forms: no noise, and one noisy step', () => {
    const clean = new ModchainTask({ noise: 0, pDirect: 0.4 });
    expect(clean.pretrainingDistributionAccuracy(clean.split('test'))).toBeCloseTo(0.6 + 0.4 / 10, 12);
    const oneOp = new ModchainTask({ noise: 0.1, pDirect: 0, minOps: 1, maxOps: 1, trainSize: 50, testSize: 50, probeSize: 10 });
    expect(oneOp.pretrainingDistributionAccuracy(oneOp.split('test'))).toBeCloseTo(0.9, 12);
  });

  it('agrees with the answers of sampled pretraining documents (Monte Carlo)', () => {
    const docs = task.pretrainingDocuments(20000, 11);
    const examples = docs.map((d, i) => {
      const prompt = d.slice(0, d.indexOf('=') + 1);
      return { id: `d${i}`, prompt, answer: evaluateIndependently(prompt, 10) };
    });
    const right = docs.filter((d, i) => d.slice(d.lastIndexOf('#') + 1, -1) === examples[i]!.answer).length / docs.length;
    const exact = task.pretrainingDistributionAccuracy(examples);
    const se = Math.sqrt((exact * (1 - exact)) / docs.length);
    expect(Math.abs(right - exact), `sampled ${right} vs exact ${exact}`).toBeLessThan(4 * se);
    // The T = 1 ceiling of a calibrated base (embedded-lab.md asks 0.45-0.55 at T = 1).
    expect(task.pretrainingDistributionAccuracy(task.split('test'))).toBeGreaterThan(0.4);
    expect(task.pretrainingDistributionAccuracy(task.split('test'))).toBeLessThan(0.5);
  });
});
