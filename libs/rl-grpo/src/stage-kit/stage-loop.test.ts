import { lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Policy } from '../policy';
import type { StageEvent } from './stage';
import { stepLoop, waitForStageLoops, type StepLoopSpec, type StepOutcome } from './stage-loop';

const policy = { name: 'p' } as unknown as Policy;

function spec(over: Partial<StepLoopSpec> & { calls?: string[] } = {}): StepLoopSpec {
  const calls = over.calls ?? [];
  return {
    stage: 's',
    kind: 'k',
    totalSteps: 4,
    setup: async () => ({ startStep: 0 }),
    step: async (step): Promise<StepOutcome> => {
      calls.push(`step ${step}`);
      return { metrics: { loss: step, reward: -step } };
    },
    checkpoint: async (step, isLast) => (step % 2 === 1 || isLast ? `ckpt-${step + 1}` : null),
    finish: async (stopped) => ({ policy, summary: { stoppedAt: stopped?.step ?? -1 } }),
    teardown: () => void calls.push('teardown'),
    ...over,
  };
}

const run = (s: StepLoopSpec) => lastValueFrom(stepLoop(s).pipe(toArray()));
const brief = (events: StageEvent[]) =>
  events.map((e) => (e.type === 'metrics' || e.type === 'checkpoint' || e.type === 'progress' ? `${e.type}:${e.step}` : e.type));

describe('stepLoop', () => {
  it('is cold and emits started, progress / metrics / checkpoint per step, finished; teardown once', async () => {
    const calls: string[] = [];
    const obs = stepLoop(spec({ calls, logEvery: 2, setup: async () => ({ startStep: 1, logs: ['resumed'] }) }));
    await new Promise((r) => setTimeout(r, 5));
    expect(calls).toEqual([]); // nothing before subscription
    const events = await lastValueFrom(obs.pipe(toArray()));
    expect(brief(events)).toEqual(['started', 'log', 'metrics:2', 'checkpoint:2', 'progress:3', 'metrics:3', 'progress:4', 'metrics:4', 'checkpoint:4', 'finished']);
    expect(calls).toEqual(['step 1', 'step 2', 'step 3', 'teardown']);
    const progress = events.find((e) => e.type === 'progress') as Extract<StageEvent, { type: 'progress' }>;
    expect(progress).toMatchObject({ loss: 2, reward: -2, totalSteps: 4 });
    expect((events.at(-1) as Extract<StageEvent, { type: 'finished' }>).summary).toEqual({ stoppedAt: -1 });
  });

  it('a stop request ends the loop after that step and is reported in finished', async () => {
    const events = await run(spec({ step: async (step) => ({ metrics: {}, stop: step === 1 ? { reason: 'done' } : undefined }) }));
    expect(brief(events)).toEqual(['started', 'progress:1', 'metrics:1', 'progress:2', 'metrics:2', 'checkpoint:2', 'log', 'finished']);
    expect(events.at(-1)).toMatchObject({ stopped: { step: 2, reason: 'done' }, summary: { stoppedAt: 2 } });
  });

  it('a skipped step (stopped before it ran) is not counted, and the completed steps are checkpointed', async () => {
    const ckpts: [number, boolean][] = [];
    const events = await run(
      spec({
        step: async (step) => (step === 2 ? { metrics: {}, stop: { reason: 'hook' }, skipped: true } : { metrics: {} }),
        checkpoint: async (step, isLast) => {
          ckpts.push([step, isLast]);
          return isLast ? `ckpt-${step + 1}` : null;
        },
      }),
    );
    expect(brief(events)).toEqual(['started', 'progress:1', 'metrics:1', 'progress:2', 'metrics:2', 'checkpoint:2', 'log', 'finished']);
    expect(ckpts).toEqual([[0, false], [1, false], [1, true]]);
    expect(events.at(-1)).toMatchObject({ stopped: { step: 2, reason: 'hook' } });
  });

  it('errors propagate, teardown still runs, and waitForStageLoops resolves', async () => {
    const calls: string[] = [];
    await expect(run(spec({ calls, step: async () => Promise.reject(new Error('boom')) }))).rejects.toThrow('boom');
    await waitForStageLoops();
    expect(calls).toEqual(['teardown']);
  });

  it('unsubscribing stops after the current step; no events afterwards; waitForStageLoops waits for teardown', async () => {
    const calls: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const seen: string[] = [];
    const sub = stepLoop(
      spec({
        calls,
        totalSteps: 10,
        step: async (step) => {
          calls.push(`step ${step}`);
          if (step === 1) await gate;
          return { metrics: {} };
        },
      }),
    ).subscribe((e) => seen.push(e.type));
    await new Promise((r) => setTimeout(r, 20)); // step 1 is in flight
    sub.unsubscribe();
    let idle = false;
    const waiting = waitForStageLoops().then(() => (idle = true));
    await new Promise((r) => setTimeout(r, 5));
    expect(idle).toBe(false); // step 1 still running
    release();
    await waiting;
    expect(calls).toEqual(['step 0', 'step 1', 'teardown']);
    expect(seen).not.toContain('finished');
    expect(seen.filter((t) => t === 'metrics')).toHaveLength(1);
  });
});
