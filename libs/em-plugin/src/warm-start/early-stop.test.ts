import { describe, expect, it } from 'vitest';
import type { StepInfo } from '@emrl/rl-grpo';
import { AgreementPlateau, EarlyStopper, earlyStopHooks, EntropyPlateau, heldOutAgreement, SkewnessJump } from './early-stop';

function feed(stopper: EarlyStopper, key: string, curve: number[]): ReturnType<EarlyStopper['update']> {
  let d = null;
  for (let step = 0; step < curve.length && !d; step++) d = stopper.update(step, { [key]: curve[step] });
  return d;
}

describe('agreement plateau', () => {
  it('stops `patience` measurements after the peak and reports the best step', () => {
    // rises to a peak at step 4, then falls (the over-confidence curve)
    const curve = [0.5, 0.6, 0.7, 0.75, 0.8, 0.79, 0.78, 0.7, 0.6];
    const d = feed(new EarlyStopper({ criteria: [{ type: 'agreement', patience: 2 }] }), 'heldout/agreement', curve);
    expect(d).toMatchObject({ criterion: 'agreement', step: 6, bestStep: 4 });
    expect(d!.reason).toMatch(/best 0.8000 at step 4/);
  });

  it('minDelta ignores tiny improvements', () => {
    const c = new AgreementPlateau({ patience: 3, minDelta: 0.05 });
    const out = [0.5, 0.52, 0.53, 0.54].map((v, s) => c.update(s, v));
    expect(out.slice(0, 3)).toEqual([null, null, null]);
    expect(out[3]).toMatchObject({ bestStep: 0 });
  });

  it('keeps going while the signal improves', () => {
    const d = feed(new EarlyStopper({ criteria: [{ type: 'agreement', patience: 1 }] }), 'heldout/agreement', [0.1, 0.2, 0.3, 0.4, 0.5]);
    expect(d).toBeNull();
  });
});

describe('entropy plateau', () => {
  it('fires when the relative drop falls below the threshold', () => {
    const c = new EntropyPlateau({ threshold: 0.05, patience: 2 });
    // drops: 0.2, 0.125, 0.0286, 0.0147 -> plateau begins at step 2
    const curve = [1.0, 0.8, 0.7, 0.68, 0.67, 0.66];
    const out = curve.map((v, s) => c.update(s, v));
    expect(out.slice(0, 4)).toEqual([null, null, null, null]);
    expect(out[4]).toMatchObject({ criterion: 'entropy-plateau', step: 4, bestStep: 2 });
  });

  it('a large drop resets the count', () => {
    const c = new EntropyPlateau({ threshold: 0.05, patience: 2 });
    const out = [1, 0.99, 0.5, 0.49, 0.485].map((v, s) => c.update(s, v));
    expect(out.slice(0, 4)).toEqual([null, null, null, null]);
    expect(out[4]).toMatchObject({ bestStep: 2 });
  });
});

describe('skewness jump', () => {
  it('fires on |delta| above the threshold in either direction', () => {
    const up = new SkewnessJump({ threshold: 0.5 });
    expect([3.0, 3.1, 3.3, 4.0].map((v, s) => up.update(s, v))[3]).toMatchObject({ step: 3, bestStep: 2 });
    const down = new SkewnessJump({ threshold: 0.5 });
    expect([3.0, 2.4].map((v, s) => down.update(s, v))[1]).toMatchObject({ bestStep: 0 });
    const flat = new SkewnessJump({ threshold: 0.5 });
    expect([3.0, 3.4, 3.8, 4.2].map((v, s) => flat.update(s, v))).toEqual([null, null, null, null]);
  });
});

describe('EarlyStopper', () => {
  it('combines criteria, skips missing signals and repeated steps, respects minSteps, is sticky', () => {
    const s = new EarlyStopper({
      minSteps: 3,
      criteria: [
        { type: 'skewness-jump', minDelta: 1 },
        { type: 'agreement', patience: 1 },
      ],
    });
    expect(s.update(0, { 'heldout/agreement': 0.5 })).toBeNull();
    expect(s.update(0, { 'heldout/agreement': 0.1 })).toBeNull(); // repeated step ignored
    expect(s.update(1, { 'heldout/skewness': 2 })).toBeNull(); // agreement missing: skipped
    expect(s.update(2, { 'heldout/agreement': 0.4, 'heldout/skewness': 2.1 })).toBeNull(); // fires but < minSteps
    const d = s.update(3, { 'heldout/agreement': 0.45, 'heldout/skewness': 5 });
    expect(d).toMatchObject({ criterion: 'skewness-jump', step: 3, bestStep: 2 });
    expect(s.update(4, {})).toBe(d);
    expect(s.decision).toBe(d);
  });

  it('accepts criterion instances', () => {
    const s = new EarlyStopper({ criteria: [new SkewnessJump({ threshold: 0.1 }, 'my/skew')] });
    s.update(0, { 'my/skew': 1 });
    expect(s.update(1, { 'my/skew': 2 })).toMatchObject({ criterion: 'skewness-jump' });
  });

  it('TrainerHooks adapter asks the host to stop with the reason', async () => {
    const hooks = earlyStopHooks(new EarlyStopper({ criteria: [{ type: 'agreement', patience: 1 }] }));
    const info = (step: number, a: number): StepInfo => ({ stage: 'em', step, totalSteps: 10, metrics: { 'heldout/agreement': a } });
    expect(await hooks.afterStep!(info(0, 0.9))).toBeUndefined();
    const r = await hooks.afterStep!(info(1, 0.8));
    expect(r).toEqual({ stop: true, reason: expect.stringMatching(/^early-stop\/agreement: .*best step 0$/) });
  });

  it('TrainerHooks state survives a JSON round trip: a resumed stopper decides as an uninterrupted one', async () => {
    const make = () => earlyStopHooks(new EarlyStopper({ criteria: [{ type: 'agreement', patience: 2 }] }));
    const curve = [0.5, 0.7, 0.8, Number.NaN, 0.75, 0.7, 0.6];
    const info = (step: number): StepInfo => ({ stage: 'grpo', step, totalSteps: 10, metrics: { 'heldout/agreement': curve[step]! } });
    const straight = make();
    const decisions: unknown[] = [];
    for (let step = 0; step < curve.length; step++) decisions.push(await straight.afterStep!(info(step)));
    expect(decisions.findIndex((d) => d !== undefined)).toBe(5);
    // interrupted after step 3, state saved as JSON (NaN becomes null), resumed in a fresh stopper
    const first = make();
    for (let step = 0; step <= 3; step++) await first.afterStep!(info(step));
    const saved = JSON.parse(JSON.stringify(first.state!())) as unknown;
    const resumed = make();
    resumed.loadState!(saved);
    const after: unknown[] = [];
    for (let step = 4; step < curve.length; step++) after.push(await resumed.afterStep!(info(step)));
    expect(after).toEqual(decisions.slice(4));
    expect(() => make().loadState!({ history: [{ step: -1, signals: {} }] })).toThrow(/earlyStopHooks: bad saved state/);
  });
});

describe('heldOutAgreement', () => {
  it('averages the majority share per prompt', () => {
    expect(heldOutAgreement([['1', '1', '2', null], ['3', '3', '3', '3']])).toBeCloseTo((0.5 + 1) / 2, 12);
    expect(heldOutAgreement([[null, null]])).toBe(0);
    expect(heldOutAgreement([])).toBe(0);
  });
});
