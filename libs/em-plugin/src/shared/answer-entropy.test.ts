import { describe, expect, it } from 'vitest';
import { answerCounts, answerEntropy, majorityAgreementRewards, majorityAnswer } from './answer-entropy';

describe('answerEntropy', () => {
  it('is 0 when all answers agree and log(k) for k equally likely answers', () => {
    expect(answerEntropy(['3', '3', '3'])).toBe(0);
    expect(answerEntropy(['1', '2', '3', '4'])).toBeCloseTo(Math.log(4), 12);
    expect(answerEntropy(['1', '2', '3', '4'], { base: 2 })).toBeCloseTo(2, 12);
    expect(answerEntropy([])).toBe(0);
  });

  it('matches -sum p log p for an uneven distribution', () => {
    const h = answerEntropy(['a', 'a', 'a', 'b']);
    expect(h).toBeCloseTo(-(0.75 * Math.log(0.75) + 0.25 * Math.log(0.25)), 12);
  });

  it('treats nulls as one class or excludes them', () => {
    const answers = ['7', null, null, '7'];
    expect(answerEntropy(answers)).toBeCloseTo(Math.log(2), 12);
    expect(answerEntropy(answers, { nulls: 'exclude' })).toBe(0);
    expect(answerEntropy([null, null], { nulls: 'exclude' })).toBe(0);
    expect(answerCounts(answers).get(null)).toBe(2);
  });
});

describe('majority agreement (TTRL)', () => {
  it('rewards answers equal to the majority, nulls get 0', () => {
    expect(majorityAgreementRewards(['5', '6', '5', null, '5'])).toEqual([1, 0, 1, 0, 1]);
    expect(majorityAnswer(['5', '6', '5', null, '5'])).toEqual({ answer: '5', count: 3, share: 0.6 });
  });

  it('never picks null as the majority; ties go to the first seen', () => {
    expect(majorityAgreementRewards([null, null, null, '2'])).toEqual([0, 0, 0, 1]);
    expect(majorityAgreementRewards(['b', 'a', 'a', 'b'])).toEqual([1, 0, 0, 1]);
    expect(majorityAgreementRewards([null, null])).toEqual([0, 0]);
    expect(majorityAnswer([null])).toBeNull();
  });
});
