import { describe, expect, it } from 'vitest';
import { answersMatch } from './answer';
import type { TaskExample } from './task';
import { WordProblemsTask } from './word-problems';

/** Independent solver: reads the problem TEXT (not the generator's structure) and solves it. */
function solveIndependently(prompt: string): number {
  const [relation, when, find] = prompt.trim().split(/\.\s+(?=[A-Z])|\.$/);
  const rel = /^(?:The [a-z]+ )?([A-Za-z]) varies (.*)$/.exec(relation!)!;
  const out = rel[1]!;
  const exps = new Map<string, number>();
  for (const part of rel[2]!.split(' and ')) {
    const exp = part.includes('cube') ? 3 : part.includes('square') ? 2 : 1;
    exps.set(part.trim().slice(-1), part.includes('inversely') ? -exp : exp);
  }
  const pairs = (s: string): Map<string, number> => new Map([...s.matchAll(/([A-Za-z]) is ([\d.]+)/g)].map((m) => [m[1]!, Number(m[2])]));
  const given = pairs(when!);
  const k = given.get(out)! / [...exps].reduce((acc, [l, e]) => acc * given.get(l)! ** e, 1);
  const target = /^Find ([A-Za-z])/.exec(find!)![1]!;
  const query = pairs(find!);
  if (target === out) return [...exps].reduce((acc, [l, e]) => acc * query.get(l)! ** e, k);
  const rest = [...exps].reduce((acc, [l, e]) => (l === target ? acc : acc * query.get(l)! ** e), k);
  return (query.get(out)! / rest) ** (1 / exps.get(target)!);
}

/** Evaluates one solution step `name=expr=value`: returns [computed, shown]. */
function checkStep(step: string): [number, number] {
  const parts = step.split('=');
  const shown = Number(parts.at(-1));
  let expr = parts[parts.length - 2]!;
  expr = expr.replace(/\^/g, '**').replace(/sqrt\(/g, 'Math.sqrt(').replace(/cbrt\(/g, 'Math.cbrt(');
  const computed = Math.round((new Function(`return ${expr};`)() as number) * 100) / 100;
  return [computed, shown];
}

const task = new WordProblemsTask();
const splits = ['train', 'test', 'probe'] as const;
const all = splits.flatMap((s) => task.split(s));

describe('WordProblemsTask splits', () => {
  it('have the configured sizes, distinct prompts and ids, deterministic in the seed', () => {
    expect(task.split('train')).toHaveLength(2000);
    expect(task.split('test')).toHaveLength(200);
    expect(task.split('probe')).toHaveLength(32);
    expect(new Set(all.map((e) => e.prompt)).size).toBe(all.length);
    expect(new Set(all.map((e) => e.id)).size).toBe(all.length);
    const again = new WordProblemsTask();
    expect(again.split('test')).toEqual(task.split('test'));
    expect(new WordProblemsTask({ trainSize: 5 }).split('probe')).toEqual(task.split('probe'));
    expect(new WordProblemsTask({ seed: 3 }).split('test')[0]!.prompt).not.toBe(task.split('test')[0]!.prompt);
  });

  it('cover every kind and both question types', () => {
    const kinds = new Set(all.map((e) => (e.meta as { kind: string }).kind));
    expect([...kinds].sort()).toEqual(['combined', 'direct', 'inverse', 'joint']);
    const asksInput = all.filter((e) => task.problemOf(e)!.target !== 'out').length / all.length;
    expect(asksInput).toBeGreaterThan(0.18);
    expect(asksInput).toBeLessThan(0.32);
  });

  it('answers are exact with at most two decimals and match an independent solver', () => {
    for (const e of all) {
      expect(e.answer).toMatch(/^\d+(\.\d{1,2})?$/);
      expect(answersMatch(String(solveIndependently(e.prompt)), e.answer, { tolerance: 1e-9 })).toBe(true);
    }
  });

  it('renders the spec example format', () => {
    const joint = all.find((e) => / varies jointly as .* and the cube of /.test(e.prompt) && task.problemOf(e)!.target === 'out')!;
    expect(joint.prompt).toMatch(/^.+ varies jointly as .+\. When .+ is [\d.]+ and .+ is [\d.]+, [A-Za-z] is [\d.]+\. Find [A-Za-z] when .+\.\n$/);
    expect(task.referenceCompletion(joint)).toMatch(/^k=[\d.]+\/\([\d.]+\*[\d.]+\^3\)=[\d.]+;[A-Za-z]=[\d.]+\*[\d.]+\*[\d.]+\^3=[\d.]+#[\d.]+\$$/);
  });
});

describe('WordProblemsTask solutions and verifier', () => {
  it('reference completions verify, have correct steps and fit maxCompletionLength', () => {
    for (const e of all) {
      const c = task.referenceCompletion(e);
      expect(c.length).toBeLessThanOrEqual(task.maxCompletionLength);
      expect(task.verify(c, e)).toEqual({ correct: true, extracted: e.answer, formatOk: true });
      const d = task.describeCompletion(c, e);
      expect(d.direct).toBe(0);
      expect(d.wellFormed).toBe(1);
      for (const step of c.slice(0, c.indexOf('#')).split(';')) {
        const [computed, shown] = checkStep(step);
        expect(computed).toBe(shown);
      }
    }
  });

  it('accepts equivalent numbers and rejects near misses', () => {
    const e: TaskExample = { id: 'x', prompt: 'p', answer: '12.8' };
    expect(task.verify('k=1;V=12.8#12.80$', e).correct).toBe(true);
    expect(task.verify('#64/5$', e).correct).toBe(true);
    expect(task.verify('#12.7$', e).correct).toBe(false);
    expect(task.verify('#128$', e).correct).toBe(false);
    expect(task.verify('k=1;V=12.8#12.8', e)).toEqual({ correct: false, extracted: null, formatOk: false });
  });

  it('describes completions', () => {
    const e = all[0]!;
    expect(task.describeCompletion('#5$', e)).toEqual({ direct: 1, steps: 0, wellFormed: 1 });
    expect(task.describeCompletion('k=48/(3*2^3)=2;P=2*1*4^3=128#128$', e)).toEqual({ direct: 0, steps: 2, wellFormed: 1 });
    expect(task.describeCompletion('k=48/(3*2^3)=2;garbage#128$', e)).toEqual({ direct: 0, steps: 1, wellFormed: 0 });
    expect(task.describeCompletion('k=2;P=128#abc$', e).wellFormed).toBe(0);
  });

  it('refuses foreign examples for reference completions', () => {
    expect(() => task.referenceCompletion({ id: 'nope', prompt: '', answer: '1' })).toThrow(/not an example of this task/);
  });
});

describe('WordProblemsTask pretraining documents', () => {
  const n = 4000;
  const docs = task.pretrainingDocuments(n, 11);

  it('are deterministic and hold out the evaluation prompts', () => {
    expect(task.pretrainingDocuments(40, 11)).toEqual(docs.slice(0, 40));
    const held = new Set([...task.split('test'), ...task.split('probe')].map((e) => e.prompt));
    for (const d of docs) expect(held.has(d.slice(0, d.indexOf('\n') + 1))).toBe(false);
  });

  it('match the noise and pDirect knobs within sampling error', () => {
    let direct = 0;
    let steps = 0;
    let wrong = 0;
    for (const doc of docs) {
      const completion = doc.slice(doc.indexOf('\n') + 1);
      expect(completion.length).toBeLessThanOrEqual(task.maxCompletionLength);
      const d = task.describeCompletion(completion, all[0]!);
      expect(d.wellFormed).toBe(1);
      if (d.direct) {
        direct++;
        continue;
      }
      const parts = completion.slice(0, completion.indexOf('#')).split(';');
      for (const step of parts) {
        const [computed, shown] = checkStep(step);
        steps++;
        if (computed !== shown) wrong++;
      }
      // the answer repeats the last shown value (errors propagate, never get fixed)
      expect(Number(completion.slice(completion.indexOf('#') + 1, -1))).toBe(Number(parts.at(-1)!.split('=').at(-1)));
    }
    const se = (p: number, k: number): number => 4 * Math.sqrt((p * (1 - p)) / k);
    expect(Math.abs(direct / n - 0.4)).toBeLessThan(se(0.4, n));
    expect(Math.abs(wrong / steps - 0.1)).toBeLessThan(se(0.1, steps));
  });
});
