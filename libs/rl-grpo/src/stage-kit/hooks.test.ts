import { describe, expect, it } from 'vitest';
import { combineHooks } from './hooks';
import type { TrainerHooks } from './plugin';

describe('combineHooks', () => {
  it('runs every hook set in order and returns the first stop request', async () => {
    const calls: string[] = [];
    const a: TrainerHooks = {
      beforeStep: () => void calls.push('a.before'),
      afterStep: ({ step }) => {
        calls.push('a.after');
        return step === 2 ? { stop: true, reason: 'a says stop' } : undefined;
      },
      beforeEval: async () => void calls.push('a.beforeEval'),
    };
    const b: TrainerHooks = {
      beforeStep: async () => {
        calls.push('b.before');
        return { stop: true, reason: 'b before' };
      },
      afterStep: () => {
        calls.push('b.after');
        return { stop: true, reason: 'b says stop' };
      },
      beforeEval: () => void calls.push('b.beforeEval'),
      afterEval: () => ({ stop: true, reason: 'eval says stop' }),
    };
    const h = combineHooks([a, undefined, b]);
    const info = { stage: 's', step: 1, totalSteps: 5 };
    expect(await h.beforeStep!(info)).toEqual({ stop: true, reason: 'b before' });
    expect(await h.afterStep!({ ...info, metrics: {} })).toEqual({ stop: true, reason: 'b says stop' });
    // a's stop wins over b's; b is still asked (it may measure the step a stop fired at)
    calls.length = 0;
    expect(await h.afterStep!({ ...info, step: 2, metrics: {} })).toEqual({ stop: true, reason: 'a says stop' });
    expect(calls).toEqual(['a.after', 'b.after']);
    calls.length = 0;
    await h.beforeEval!(info);
    expect(calls).toEqual(['a.beforeEval', 'b.beforeEval']);
    expect(await h.afterEval!({ ...info, metrics: {} })).toEqual({ stop: true, reason: 'eval says stop' });
  });

  it('with no hook sets never stops', async () => {
    const h = combineHooks([]);
    expect(await h.beforeStep!({ stage: 's', step: 0, totalSteps: 1 })).toBeUndefined();
    expect(await h.afterEval!({ stage: 's', step: 0, totalSteps: 1, metrics: {} })).toBeUndefined();
  });
});
