import { describe, expect, it } from 'vitest';
import { createRegistry, createTask, scoreCompletions, type RewardInput } from '@emrl/rl-grpo';
import { registerEmPlugins } from '../regularizer/register';
import { majorityAgreementReward } from './label-free-rewards';

const task = createTask({ type: 'modchain', trainSize: 4, testSize: 2, probeSize: 1 });
const example = { id: 'x', prompt: '1+2=', answer: '3' };

describe('majority-agreement reward (TTRL)', () => {
  it('rewards agreement with the group majority, ignoring the label', () => {
    const group = ['1+2=3#7$', '#7$', '1+2=3#3$', 'garbage'];
    const extract = (c: string) => task.extractAnswer(c);
    expect(group.map((c) => majorityAgreementReward(c, group, extract))).toEqual([1, 1, 0, 0]);
    // The label says 3, the majority says 7: the reward follows the majority.
    const inputs: RewardInput[] = group.map((completion) => ({ prompt: example.prompt, completion, example, task, truncated: false, group, state: { step: 0, totalSteps: 1 } }));
    const registry = registerEmPlugins(createRegistry());
    expect(scoreCompletions(inputs, [{ name: 'majority-agreement', weight: 1, fn: registry.reward('majority-agreement') }]).total).toEqual([1, 1, 0, 0]);
  });

  it('gives 0 to everyone when no completion has an answer', () => {
    const group = ['a', 'b'];
    expect(group.map((c) => majorityAgreementReward(c, group, (x) => task.extractAnswer(x)))).toEqual([0, 0]);
  });
});
