import { describe, expect, it } from 'vitest';
import { AdvantageConfigSchema, computeAdvantages, filterZeroStdGroups, unbiasedStd } from './advantages';

// Two groups of G = 4: one mixed (mean 0.5, unbiased std sqrt(1/3)), one all-correct (std 0).
const REWARDS = [1, 0, 0, 1, 1, 1, 1, 1];

describe('computeAdvantages', () => {
  it('group scaling uses the unbiased group std, as torch.std in TRL', () => {
    const a = computeAdvantages(REWARDS, 4, 'group');
    // 0.5 / (sqrt(1/3) + 1e-4), computed by hand in double precision.
    const s = 0.8658754297607016;
    expect(a.advantages[0]).toBeCloseTo(s, 12);
    expect(a.advantages.slice(0, 4).map((x) => Math.sign(x))).toEqual([1, -1, -1, 1]);
    expect(a.advantages.slice(4)).toEqual([0, 0, 0, 0]);
    expect(a.groupMean).toEqual([0.5, 1]);
    expect(a.groupStd[0]).toBeCloseTo(0.5773502691896257, 14);
    expect(a.groupStd[1]).toBe(0);
    expect(a.zeroStdGroupMask).toEqual([false, true]);
    expect(a.fracZeroStd).toBe(0.5);
  });

  it('a non-binary group matches a hand computation', () => {
    // [2, 4, 9]: mean 5, squared deviations 9 + 1 + 16 = 26, unbiased var 13.
    const a = computeAdvantages([2, 4, 9], 3);
    expect(a.groupStd[0]).toBeCloseTo(3.605551275463989, 12);
    expect(a.advantages[0]).toBeCloseTo(-0.8320272180547876, 12);
    expect(a.advantages.reduce((x, y) => x + y, 0)).toBeCloseTo(0, 12);
  });

  it('batch scaling divides the group-centred rewards by the batch std', () => {
    const a = computeAdvantages(REWARDS, 4, 'batch');
    // batch mean 0.75, unbiased var (6 * 0.0625 + 2 * 0.5625) / 7 = 1.5 / 7.
    expect(a.scaleStd[0]).toBeCloseTo(0.4629100498862757, 14);
    expect(a.advantages[0]).toBeCloseTo(1.0798901667961847, 12);
    expect(a.advantages.slice(4)).toEqual([0, 0, 0, 0]); // still centred on the group mean
    expect(a.zeroStdGroupMask).toEqual([false, false]); // TRL flags on the batch std here
  });

  it("scale 'none' only centres (Dr. GRPO) but still reports the group std", () => {
    const a = computeAdvantages(REWARDS, 4, 'none');
    expect(a.advantages).toEqual([0.5, -0.5, -0.5, 0.5, 0, 0, 0, 0]);
    expect(a.zeroStdGroupMask).toEqual([false, true]);
  });

  it('G = 1 gives zero std and zero advantages', () => {
    const a = computeAdvantages([3, 7], 1);
    expect(a.advantages).toEqual([0, 0]);
    expect(a.fracZeroStd).toBe(1);
  });

  it('rejects bad layouts and non-finite rewards with a fix', () => {
    expect(() => computeAdvantages([1, 0, 1], 2)).toThrow(/multiple of groupSize/);
    expect(() => computeAdvantages([1, Number.NaN], 2)).toThrow(/rewards\[1\]/);
    expect(() => computeAdvantages([1, 0], 0)).toThrow(/groupSize/);
  });

  it('config schema fills TRL defaults', () => {
    expect(AdvantageConfigSchema.parse({ groupSize: 8 })).toEqual({ groupSize: 8, scale: 'group', eps: 1e-4 });
  });

  it('unbiasedStd matches the n-1 definition', () => {
    expect(unbiasedStd([1, 2, 3, 4])).toBeCloseTo(Math.sqrt(5 / 3), 14);
  });
});

describe('filterZeroStdGroups (DAPO dynamic sampling)', () => {
  it('keeps only groups with reward variance', () => {
    const f = filterZeroStdGroups([0, 0, 1, 0, 1, 1, 0.5, 0.5], 2);
    expect(f.keptGroups).toEqual([1]);
    expect(f.droppedGroups).toEqual([0, 2, 3]);
    expect(f.keptIndices).toEqual([2, 3]);
  });
});
