import type { RewardFunction } from '@emrl/rl-grpo';
import { majorityAnswer } from './answer-entropy';

/**
 * Label-free rewards for GRPO (registered by registerEmPlugins; use them in `rewards:` of a grpo stage):
 * - `majority-agreement` (TTRL, arXiv 2504.16084): 1 if this completion's extracted answer equals
 *   the majority answer of its group, else 0 (no answer, or no majority, gives 0). Never reads the label.
 */
export function majorityAgreementReward(completion: string, group: readonly string[], extract: (c: string) => string | null): number {
  const majority = majorityAnswer(group.map(extract));
  const mine = extract(completion);
  return majority !== null && mine !== null && mine === majority.answer ? 1 : 0;
}

/** `majority-agreement` as a reward function of a GRPO stage. */
export const majorityAgreementRewardFn: RewardFunction = ({ completion, group, task }) => majorityAgreementReward(completion, group, (c) => task.extractAnswer(c));
