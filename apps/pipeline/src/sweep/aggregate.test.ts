import { describe, expect, it } from 'vitest';
import { pairedComparisons, tCritical95 } from './aggregate';

/** Student-t density (log-gamma by Lanczos), integrated with Simpson's rule: an independent check. */
function tCdf(x: number, df: number): number {
  const lgamma = (z: number): number => {
    const g = [676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
    if (z < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * z)) - lgamma(1 - z);
    z -= 1;
    let a = 0.99999999999980993;
    for (let i = 0; i < 8; i++) a += g[i]! / (z + i + 1);
    const t = z + 7.5;
    return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
  };
  const c = Math.exp(lgamma((df + 1) / 2) - lgamma(df / 2)) / Math.sqrt(df * Math.PI);
  const pdf = (u: number): number => c * (1 + (u * u) / df) ** (-(df + 1) / 2);
  const n = 20000;
  const h = x / n;
  let s = pdf(0) + pdf(x);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * pdf(i * h);
  return 0.5 + (s * h) / 3;
}

describe('tCritical95', () => {
  it('gives P(T <= t) = 0.975 for the tabled degrees of freedom (numerical integration)', () => {
    for (const df of [1, 2, 3, 4, 5, 9, 19, 30]) expect(tCdf(tCritical95(df), df), `df ${df}`).toBeCloseTo(0.975, 3);
  });
});

describe('pairedComparisons', () => {
  it('pairs by seed and computes the t interval of the mean difference', () => {
    const cells = [
      { group: 'a', seed: 1, metrics: { acc: 0.5 } },
      { group: 'a', seed: 2, metrics: { acc: 0.6 } },
      { group: 'a', seed: 3, metrics: { acc: 0.7 } },
      { group: 'b', seed: 1, metrics: { acc: 0.52 } },
      { group: 'b', seed: 2, metrics: { acc: 0.63 } },
      { group: 'b', seed: 3, metrics: { acc: 0.71 } },
      { group: 'c', seed: 1, metrics: { acc: 0.9 } },
      { group: 'd', seed: 1, metrics: { acc: 0.52 } },
      { group: 'd', seed: 2, metrics: { acc: 0.621 } },
      { group: 'd', seed: 3, metrics: { acc: 0.719 } },
    ];
    const all = pairedComparisons(cells, 'acc');
    const [ab, ac] = all;
    // b - a per seed: 0.02, 0.03, 0.01 -> mean 0.02, sd 0.01, half = 4.303 * 0.01 / sqrt(3).
    expect(ab).toMatchObject({ group: 'b', baseline: 'a', n: 3 });
    expect(ab!.meanDiff).toBeCloseTo(0.02, 12);
    expect(ab!.hi - ab!.meanDiff).toBeCloseTo((4.303 * 0.01) / Math.sqrt(3), 10);
    expect(ab!.withinNoise).toBe(true); // [0.02 - 0.0248, 0.02 + 0.0248] contains 0
    // d - a: 0.02, 0.021, 0.019 -> sd 0.001, half 0.00248: the interval excludes 0.
    const ad = all.find((p) => p.group === 'd' && p.baseline === 'a')!;
    expect(ad.lo).toBeCloseTo(0.02 - (4.303 * 0.001) / Math.sqrt(3), 10);
    expect(ad.withinNoise).toBe(false);
    expect(ac).toMatchObject({ group: 'c', baseline: 'a', n: 1, withinNoise: false });
    expect(Number.isNaN(ac!.lo)).toBe(true);
  });
});

describe('sweep report statements', () => {
  it('says when curricula differences on the held-out eval are within seed noise', async () => {
    const { pairedSection, columnLabel } = await import('./sweep-report');
    const cell = (group: string, seed: number, acc: number) => ({ id: `${group}_seed-${seed}`, group, seed, complete: true, metrics: { 'eval/eval/accuracy@t0': acc } });
    const s = { name: 'x', groups: [], columns: ['eval/eval/accuracy@t0'], cells: [cell('em-then-grpo', 1, 0.9), cell('em-then-grpo', 2, 0.8), cell('grpo-only', 1, 0.905), cell('grpo-only', 2, 0.79)] };
    expect(columnLabel('eval/eval/accuracy@t0')).toBe('held-out acc@T=0 (eval stage)');
    // grpo-only - em-then-grpo per seed: +0.005, -0.01 -> mean -0.0025, the t interval (df 1) contains 0.
    expect(pairedSection(s, 'eval/eval/accuracy@t0')).toContain('All 1 pairwise differences in held-out acc@T=0 (eval stage) are within seed noise');
  });
});
