import { describe, expect, it } from 'vitest';
import { peakStep, replay, type StudyPoint } from './early-stop-study';

const series = (acc: number[], agreement: number[], entropy: number[], skewness: number[]): StudyPoint[] =>
  acc.map((a, step) => ({ step, accuracy: a, agreement: agreement[step]!, entropy: entropy[step]!, skewness: skewness[step]! }));

describe('early-stop-study replay', () => {
  const s = series(
    [0.3, 0.4, 0.45, 0.45, 0.4, 0.3],
    [0.5, 0.6, 0.7, 0.7, 0.65, 0.6], // best at step 2, no improvement at 3 and 4 -> patience 2 fires at 4
    [1.0, 0.8, 0.7, 0.698, 0.697, 0.5], // relative drop < 0.01 at steps 3 and 4
    [5.0, 5.1, 5.2, 5.9, 5.9, 5.9], // |delta| 0.7 > 0.5 between steps 2 and 3
  );

  it('peak = argmax of accuracy, ties -> the earliest step', () => {
    expect(peakStep(s)).toBe(2);
  });

  it('replays the EM stage criteria with their default thresholds', () => {
    expect(replay(s, 'agreement', 2)).toEqual({ signal: 'agreement', patience: 2, stop: 4, best: 2 });
    expect(replay(s, 'agreement', 1)).toMatchObject({ stop: 3, best: 2 });
    expect(replay(s, 'agreement', 3)).toMatchObject({ stop: 5, best: 2 });
    expect(replay(s, 'entropy-plateau', 2)).toMatchObject({ stop: 4, best: 2 });
    expect(replay(s, 'skewness-jump', 2)).toEqual({ signal: 'skewness-jump', patience: null, stop: 3, best: 2 });
  });

  it('a criterion that never fires gives stop null', () => {
    expect(replay(s, 'entropy-plateau', 3)).toMatchObject({ stop: null, best: null });
  });
});
