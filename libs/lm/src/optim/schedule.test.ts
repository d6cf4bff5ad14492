import { describe, expect, it } from 'vitest';
import { LrScheduleSchema, OptimizerConfigSchema } from './config';
import { lrAt, withTotalSteps } from './schedule';

describe('lrAt', () => {
  it('constant', () => {
    expect(lrAt({ type: 'constant' }, 3e-4, 0)).toBe(3e-4);
    expect(lrAt({ type: 'constant' }, 3e-4, 10_000)).toBe(3e-4);
  });

  it('warmup-cosine at boundary steps', () => {
    const s = LrScheduleSchema.parse({ type: 'warmup-cosine', warmupSteps: 4, totalSteps: 14, minLrRatio: 0.1 });
    expect(lrAt(s, 1, 0)).toBeCloseTo(0.25, 12);
    expect(lrAt(s, 1, 3)).toBeCloseTo(1, 12);
    expect(lrAt(s, 1, 4)).toBeCloseTo(1, 12);
    expect(lrAt(s, 1, 9)).toBeCloseTo(0.1 + 0.9 * 0.5, 12); // halfway: cos(pi/2) = 0
    expect(lrAt(s, 1, 14)).toBeCloseTo(0.1, 12);
    expect(lrAt(s, 1, 100)).toBeCloseTo(0.1, 12);
    expect(lrAt(s, 2, 6)).toBeCloseTo(2 * (0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * 0.2))), 12);
  });

  it('warmup-linear at boundary steps, no warmup', () => {
    const s = LrScheduleSchema.parse({ type: 'warmup-linear', totalSteps: 10 });
    expect(lrAt(s, 1, 0)).toBeCloseTo(1, 12);
    expect(lrAt(s, 1, 5)).toBeCloseTo(0.5, 12);
    expect(lrAt(s, 1, 10)).toBeCloseTo(0, 12);
    expect(lrAt(s, 1, 11)).toBeCloseTo(0, 12);
  });
});

describe('OptimizerConfigSchema', () => {
  it('fills the documented defaults', () => {
    expect(OptimizerConfigSchema.parse({ lr: 1e-3 })).toEqual({
      lr: 1e-3,
      betas: [0.9, 0.999],
      eps: 1e-8,
      weightDecay: 0.01,
      gradClip: 0,
      schedule: { type: 'constant' },
    });
  });

  it('rejects warmup longer than the schedule, naming the field', () => {
    const r = OptimizerConfigSchema.safeParse({ lr: 1, schedule: { type: 'warmup-linear', warmupSteps: 5, totalSteps: 2 } });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(['schedule', 'warmupSteps']);
  });
});

describe('one schedule vocabulary', () => {
  it('cosine and linear both default minLrRatio to 0; totalSteps defaults to the stage length', () => {
    const cos = LrScheduleSchema.parse({ type: 'warmup-cosine' });
    expect(cos).toEqual({ type: 'warmup-cosine', warmupSteps: 0, minLrRatio: 0 });
    expect(() => lrAt(cos, 1, 0)).toThrow(/needs totalSteps.*withTotalSteps/);
    const filled = withTotalSteps(cos, 8);
    expect(lrAt(filled, 1, 8)).toBeCloseTo(0, 12);
    expect(lrAt(filled, 1, 4)).toBeCloseTo(0.5, 12);
    // An explicit totalSteps wins over the stage length.
    expect(withTotalSteps({ type: 'warmup-linear', warmupSteps: 0, totalSteps: 4, minLrRatio: 0 }, 8)).toMatchObject({ totalSteps: 4 });
    expect(() => LrScheduleSchema.parse({ type: 'warmup-cosine', minLrRaito: 0.1 })).toThrow(/minLrRaito/);
  });
});
