import { describe, expect, it } from 'vitest';
import type { Policy, Task, TaskExample } from '@emrl/rl-grpo';
import { sampleCompletions } from './diagnostics';

describe('sampleCompletions', () => {
  it('decodes the first n responses and verifies them against their prompts', () => {
    const policy = { name: 'p', model: {}, tokenizer: { decode: (ids: number[]) => String.fromCharCode(...ids) } } as unknown as Policy;
    const task = { verify: (c: string, ex: TaskExample) => ({ correct: c === `${ex.answer}$`, extracted: c.endsWith('$') ? c.slice(0, -1) : null, formatOk: true }) } as unknown as Task;
    const examples = [{ id: 'a', prompt: '1+1=', answer: '2' }, { id: 'b', prompt: '2+2=', answer: '4' }, { id: 'c', prompt: '3+3=', answer: '6' }];
    const responses = [[50, 36], [53, 36], [54, 36]]; // "2$", "5$", "6$"
    expect(sampleCompletions(policy, task, examples, responses, 2)).toEqual([
      { prompt: '1+1=', completion: '2$', answer: '2', correct: true },
      { prompt: '2+2=', completion: '5$', answer: '5', correct: false },
    ]);
  });
});
