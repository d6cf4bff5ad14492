import { describe, expect, it } from 'vitest';
import {
  answerConfidence,
  brierScore,
  calibration,
  expectedCalibrationError,
  majAtK,
  majorityVote,
  meanPassAtK,
  passAtK,
  sampleConsistencyConfidence,
  sequenceProbabilityConfidence,
} from './metrics';

/** Exact binomial with BigInt: an independent check of the product form. */
function binom(n: number, k: number): bigint {
  if (k < 0 || k > n) return 0n;
  let r = 1n;
  for (let i = 1; i <= k; i++) r = (r * BigInt(n - k + i)) / BigInt(i);
  return r;
}

describe('passAtK', () => {
  it('matches hand values', () => {
    expect(passAtK(5, 2, 2)).toBeCloseTo(0.7, 14); // 1 - C(3,2)/C(5,2) = 1 - 3/10
    expect(passAtK(10, 3, 1)).toBeCloseTo(0.3, 14); // pass@1 = c/n
    expect(passAtK(4, 3, 2)).toBe(1); // n - c < k
    expect(passAtK(8, 0, 3)).toBe(0);
  });

  it('equals 1 - C(n-c,k)/C(n,k) computed with exact binomials', () => {
    for (const n of [1, 7, 16, 40]) {
      for (let c = 0; c <= n; c += Math.max(1, Math.floor(n / 5))) {
        for (const k of [1, 2, 5, n].filter((x) => x <= n)) {
          const exact = 1 - Number((binom(n - c, k) * 10n ** 15n) / binom(n, k)) / 1e15;
          expect(passAtK(n, c, k)).toBeCloseTo(exact, 12);
        }
      }
    }
  });

  it('stays finite for large n and averages over problems', () => {
    expect(passAtK(10_000, 1, 5_000)).toBeCloseTo(0.5, 12);
    expect(meanPassAtK([{ n: 5, c: 2 }, { n: 4, c: 3 }], 2)).toBeCloseTo(0.85, 14);
  });

  it('rejects impossible counts', () => {
    expect(() => passAtK(4, 5, 1)).toThrow(/0 <= c <= n/);
    expect(() => passAtK(4, 1, 5)).toThrow(/k <= n/);
  });
});

describe('majority vote and maj@k', () => {
  it('ignores nulls and breaks ties toward the first answer seen', () => {
    const v = majorityVote(['3', null, '5', '5', '3']);
    expect(v).toEqual({ answer: '3', count: 2, voters: 4, samples: 5, tiedWith: ['5'] });
    expect(majAtK(['3', null, '5', '5', '3'], '3')).toBe(1);
    expect(majAtK(['3', null, '5', '5', '3'], '5')).toBe(0);
    expect(majAtK(['3', null, '5', '5', '3'], '5', 4)).toBe(1); // first 4: '5' wins 2-1
  });

  it('all-null samples give no answer and score 0', () => {
    expect(majorityVote([null, null]).answer).toBeNull();
    expect(majAtK([null, null], '1')).toBe(0);
  });

  it('uses a custom equivalence', () => {
    expect(majAtK(['12.80', '12.8', '13'], '12.8', 3, (a, g) => Number(a) === Number(g))).toBe(1);
  });
});

describe('calibration', () => {
  const PAIRS = [
    { confidence: 0.95, correct: true },
    { confidence: 0.95, correct: false },
    { confidence: 0.3, correct: 1 as const },
    { confidence: 0.25, correct: 0 as const },
    { confidence: 1, correct: true },
  ];

  it('ECE with 10 bins matches a hand computation', () => {
    // bin 9: {0.95 ok, 0.95 wrong, 1.0 ok}: |2/3 - 2.9/3| = 0.3, weight 3/5 -> 0.18
    // bin 3: {0.3 ok}: 0.7 x 1/5 = 0.14; bin 2: {0.25 wrong}: 0.25 x 1/5 = 0.05
    const r = calibration(PAIRS, 10);
    expect(r.ece).toBeCloseTo(0.37, 12);
    expect(r.bins.map((b) => b.count)).toEqual([0, 0, 1, 1, 0, 0, 0, 0, 0, 3]);
    expect(r.bins[9]!.accuracy).toBeCloseTo(2 / 3, 12);
  });

  it('ECE with 2 bins weights each bin by its size', () => {
    // [0, .5): conf 0.275, acc 0.5 -> 0.225 x 0.4; [.5, 1]: 0.3 x 0.6
    expect(expectedCalibrationError(PAIRS, 2)).toBeCloseTo(0.09 + 0.18, 12);
  });

  it('Brier score is the mean squared gap', () => {
    expect(brierScore(PAIRS)).toBeCloseTo((0.0025 + 0.9025 + 0.49 + 0.0625 + 0) / 5, 12);
  });

  it('a calibrated predictor has zero ECE', () => {
    const pairs = [true, false, true, false].map((c) => ({ confidence: 0.5, correct: c }));
    expect(expectedCalibrationError(pairs)).toBe(0);
    expect(brierScore(pairs)).toBeCloseTo(0.25, 14);
  });

  it('rejects confidences outside [0, 1]', () => {
    expect(() => calibration([{ confidence: 1.2, correct: true }])).toThrow(/pairs\[0\]\.confidence/);
  });
});

describe('answer confidence', () => {
  it('sample-consistency: majority share of all k samples (nulls count in k)', () => {
    expect(sampleConsistencyConfidence(['a', 'a', null, 'b'])).toEqual({ answer: 'a', confidence: 0.5, method: 'sample-consistency' });
  });

  it('sequence-probability: exp of the mean answer-token log-prob', () => {
    const c = sequenceProbabilityConfidence([Math.log(0.5), Math.log(0.125)], '7');
    expect(c.confidence).toBeCloseTo(0.25, 14); // geometric mean of 0.5 and 0.125
    expect(c.answer).toBe('7');
    expect(() => sequenceProbabilityConfidence([])).toThrow(/empty answer span/);
  });

  it('answerConfidence dispatches on the method name', () => {
    expect(answerConfidence({ method: 'sample-consistency', answers: ['x', 'y', 'x'] }).confidence).toBeCloseTo(2 / 3, 14);
    expect(answerConfidence({ method: 'sequence-probability', answerTokenLogprobs: [Math.log(0.9)] }).confidence).toBeCloseTo(0.9, 14);
  });
});
