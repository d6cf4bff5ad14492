import { describe, expect, it } from 'vitest';
import { estimateEta, formatDiagnosticsLine, formatDuration, formatLogLine, formatProgressLine, ProgressReporter } from './progress';

describe('progress formatting', () => {
  it('formats durations and ETAs', () => {
    expect(formatDuration(5.4)).toBe('5s');
    expect(formatDuration(65)).toBe('1m05s');
    expect(formatDuration(3 * 3600 + 120)).toBe('3h02m');
    expect(formatDuration(Number.NaN)).toBe('--');
    expect(estimateEta(10, 2, 12)).toBe(50);
    expect(estimateEta(10, 0, 12)).toBeUndefined();
  });
  it('draws a bar with step, loss, reward, tokens/s and ETA', () => {
    expect(formatProgressLine({ stage: 'em', step: 5, totalSteps: 10, loss: 0.51234, reward: 0.25, tokensPerSec: 312.4, etaSec: 65 })).toBe(
      'em        [##########----------]  5/10  loss 0.5123  reward 0.25  312 tok/s  ETA 1m05s',
    );
    expect(formatProgressLine({ stage: 'grpo', step: 1, totalSteps: 4 }, 20)).toHaveLength(20);
    expect(formatLogLine({ stage: 'grpo', step: 10, totalSteps: 40, loss: 1e-5 })).toBe('[grpo] step 10/40 loss=1.00e-5');
  });
  it('summarizes a diagnostics event on one line', () => {
    const line = formatDiagnosticsLine({ type: 'diagnostics', boundary: 'after:em', after: 'em', policy: 'p', wallMs: 1, time: 0, diagnostics: { accuracyByTemperature: [{ temperature: 0, accuracy: 0.5 }], logitStats: { skewness: 1.25, entropy: 0.3 }, calibration: { ece: 0.05 } } });
    expect(line).toBe('[diagnostics after:em] p acc@T0=0.5 skew=1.25 entropy=0.3 ece=0.05');
  });
  it('redraws in place on a TTY and logs every N steps otherwise', () => {
    let t = 0; // ms; one second per step
    const tty: string[] = [];
    const r1 = new ProgressReporter({ write: (s: string) => tty.push(s), isTTY: true, columns: 120 }, { now: () => t });
    const log: string[] = [];
    const r2 = new ProgressReporter({ write: (s: string) => log.push(s) }, { every: 2, now: () => t });
    for (const r of [r1, r2]) {
      t = 0;
      r.handle({ type: 'started', stage: 'em', kind: 'em', totalSteps: 3, time: 0 });
      for (let step = 1; step <= 3; step++) {
        t = step * 1000;
        r.handle({ type: 'progress', stage: 'em', step, totalSteps: 3, loss: step });
      }
    }
    expect(tty.filter((s) => s.startsWith('\r\x1b[2Kem'))).toHaveLength(3);
    expect(log).toEqual(['[em] started (3 steps)\n', '[em] step 2/3 loss=2 eta=1s\n', '[em] step 3/3 loss=3 eta=0s\n']);
  });
});
