import { describe, expect, it } from 'vitest';
import { scoreCompletions, type RewardInput } from './rewards';
import { createRegistry } from '../builtins';
import type { Task, TaskExample } from '../tasks/task';

const task: Task = {
  name: 't',
  split: () => [],
  verify: (c, ex) => ({ correct: c.trim() === ex.answer, extracted: c.trim() || null, formatOk: /^\d+$/.test(c.trim()) }),
  extractAnswer: (c) => c.trim() || null,
  stopSequences: [],
  maxCompletionLength: 4,
};
const ex: TaskExample = { id: 'e', prompt: 'q', answer: '7' };
const input = (completion: string): RewardInput => ({ prompt: 'q', completion, example: ex, task, truncated: false, group: [completion], state: { step: 0, totalSteps: 1 } });

describe('rewards', () => {
  it('built-in accuracy and format use the task verifier', () => {
    const registry = createRegistry();
    expect(registry.rewardNames()).toEqual(expect.arrayContaining(['accuracy', 'format']));
    expect(['7', '8', 'x'].map((c) => registry.reward('accuracy')(input(c)))).toEqual([1, 0, 0]);
    expect(['7', '8', 'x'].map((c) => registry.reward('format')(input(c)))).toEqual([1, 1, 0]);
  });

  it('weights functions, treats null as not applicable (0 in the total), and names unknown ones', () => {
    const registry = createRegistry().registerReward('test-len-if-long', ({ completion }) => (completion.length > 1 ? completion.length : null));
    const w = (name: string, weight: number) => ({ name, weight, fn: registry.reward(name) });
    const s = scoreCompletions([input('7'), input('88'), input('xyz')], [w('accuracy', 2), w('format', 0.5), w('test-len-if-long', -1)]);
    expect(s.perFunction).toEqual({ accuracy: [1, 0, 0], format: [1, 1, 0], 'test-len-if-long': [null, 2, 3] });
    expect(s.total).toEqual([2 + 0.5, 0.5 - 2, -3]);
    expect(() => registry.reward('nope')).toThrow(/unknown reward function "nope".*registerReward/);
  });
});
