import { describe, expect, it } from 'vitest';
import { wilsonInterval } from './intervals';

describe('wilsonInterval', () => {
  it('matches closed forms: 50/100 and 0/n', () => {
    // 50/100, z = 1.96: center 0.5, half = 1.96/1.038416 * sqrt(0.0025 + 0.000096040) = 0.096177...
    const a = wilsonInterval(0.5, 100);
    const half = (1.96 / (1 + 1.96 ** 2 / 100)) * Math.sqrt(0.25 / 100 + 1.96 ** 2 / 40000);
    expect(a.lo).toBeCloseTo(0.5 - half, 12);
    expect(a.hi).toBeCloseTo(0.5 + half, 12);
    expect([a.lo, a.hi].map((x) => Number(x.toFixed(4)))).toEqual([0.4038, 0.5962]); // the commonly quoted 50/100 interval
    // phat = 0: upper bound z^2 / (n + z^2).
    const b = wilsonInterval(0, 10);
    expect(b.lo).toBe(0);
    expect(b.hi).toBeCloseTo(1.96 ** 2 / (10 + 1.96 ** 2), 12);
  });

  it('covers the true p about 95% of the time (simulation, seeded LCG)', () => {
    let s = 12345;
    const rand = (): number => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
    const p = 0.3;
    const n = 50;
    let covered = 0;
    const trials = 4000;
    for (let t = 0; t < trials; t++) {
      let x = 0;
      for (let i = 0; i < n; i++) if (rand() < p) x++;
      const ci = wilsonInterval(x / n, n);
      if (ci.lo <= p && p <= ci.hi) covered++;
    }
    expect(covered / trials).toBeGreaterThan(0.92);
    expect(covered / trials).toBeLessThan(0.98);
  });
});
