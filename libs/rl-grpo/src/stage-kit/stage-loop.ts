import { Observable } from 'rxjs';
import type { Policy } from '../policy';
import type { StageEvent } from './stage';

export interface StepOutcome {
  metrics: Record<string, number>;
  stop?: { reason: string };
  /** The step did not run (a beforeStep hook stopped first): no metrics, no checkpoint for it. */
  skipped?: boolean;
}

/** The pieces of a step-based training stage; `stepLoop` turns them into a cancellable Observable. */
export interface StepLoopSpec {
  stage: string;
  kind: string;
  totalSteps: number;
  /** Emit a progress/metrics event every N steps (the last step always emits). */
  logEvery?: number;
  /** Prepare (load a checkpoint when resuming); returns the first step to run. */
  setup(): Promise<{ startStep: number; logs?: string[] }>;
  step(step: number): Promise<StepOutcome>;
  /** Called after each step; returns a checkpoint path when one was written. */
  checkpoint?(step: number, isLast: boolean): Promise<string | null>;
  /** After the last step (or an early stop); returns the resulting policy. */
  finish(stopped?: { step: number; reason: string }): Promise<{ policy: Policy; summary: Record<string, number>; result?: unknown }>;
  /** Always called once at the end (completed, failed or cancelled): dispose tensors here. */
  teardown(): void;
}

let running = 0;
const idleWaiters: (() => void)[] = [];

/** Resolves when no stage loop is mid-step (used by the CLI to exit cleanly after Ctrl-C). */
export function waitForStageLoops(): Promise<void> {
  if (running === 0) return Promise.resolve();
  return new Promise((resolve) => idleWaiters.push(resolve));
}

function markIdle(): void {
  running--;
  if (running === 0) idleWaiters.splice(0).forEach((r) => r());
}

/** Yields to the event loop so signals and unsubscriptions are seen between steps. */
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Runs a step loop as a cold Observable of StageEvents. Unsubscribing stops it after the current
 * step: no event is emitted afterwards, teardown runs, and checkpoints already written stay intact.
 */
export function stepLoop(spec: StepLoopSpec): Observable<StageEvent> {
  return new Observable<StageEvent>((subscriber) => {
    let cancelled = false;
    running++;
    const emit = (e: StageEvent) => {
      if (!cancelled) subscriber.next(e);
    };
    (async () => {
      const t0 = performance.now();
      try {
        emit({ type: 'started', stage: spec.stage, kind: spec.kind, totalSteps: spec.totalSteps, time: Date.now() });
        const { startStep, logs } = await spec.setup();
        for (const message of logs ?? []) emit({ type: 'log', stage: spec.stage, level: 'info', message });
        let stopped: { step: number; reason: string } | undefined;
        const logEvery = spec.logEvery ?? 1;
        let stepsRun = 0;
        for (let step = startStep; step < spec.totalSteps; step++) {
          await tick();
          if (cancelled) return;
          const out = await spec.step(step);
          if (out.skipped) {
            // Only `step` steps are complete; checkpoint them if the last one was not saved yet.
            const reason = out.stop?.reason ?? 'a hook stopped the stage before the step';
            stopped = { step, reason };
            const path = spec.checkpoint && step > startStep ? await spec.checkpoint(step - 1, true) : null;
            if (path) emit({ type: 'checkpoint', stage: spec.stage, step, path });
            emit({ type: 'log', stage: spec.stage, level: 'info', message: `stopped before step ${step + 1}: ${reason}` });
            break;
          }
          stepsRun++;
          const isLast = step === spec.totalSteps - 1 || out.stop !== undefined;
          if (step % logEvery === 0 || isLast) {
            const elapsed = (performance.now() - t0) / 1000;
            const perStep = elapsed / stepsRun;
            emit({
              type: 'progress',
              stage: spec.stage,
              step: step + 1,
              totalSteps: spec.totalSteps,
              tokensPerSec: out.metrics['perf/tokens_per_sec'],
              etaSec: perStep * (spec.totalSteps - step - 1),
              loss: out.metrics['loss'],
              reward: out.metrics['reward'],
            });
          }
          emit({ type: 'metrics', stage: spec.stage, step: step + 1, metrics: out.metrics });
          const path = spec.checkpoint ? await spec.checkpoint(step, isLast) : null;
          if (path) emit({ type: 'checkpoint', stage: spec.stage, step: step + 1, path });
          if (out.stop) {
            stopped = { step: step + 1, reason: out.stop.reason };
            emit({ type: 'log', stage: spec.stage, level: 'info', message: `stopped early at step ${step + 1}: ${out.stop.reason}` });
            break;
          }
        }
        if (cancelled) return;
        const result = await spec.finish(stopped);
        emit({ type: 'finished', stage: spec.stage, policy: result.policy, summary: result.summary, stopped, result: result.result });
        if (!cancelled) subscriber.complete();
      } catch (e) {
        if (!cancelled) subscriber.error(e);
      } finally {
        try {
          spec.teardown();
        } finally {
          markIdle();
        }
      }
    })();
    return () => {
      cancelled = true;
    };
  });
}

/** A stage that is one job rather than a step loop (evaluation, selection, ...). */
export interface OneShotSpec {
  stage: string;
  kind: string;
  /** Units of progress the job reports (e.g. temperatures or candidates). */
  totalSteps: number;
  /** The job. `emit` forwards progress/log/metrics events (dropped after cancellation). */
  run(emit: (e: StageEvent) => void, cancelled: () => boolean): Promise<{ policy: Policy; summary: Record<string, number>; result?: unknown }>;
}

/**
 * Runs a one-shot job as a cold Observable: started, whatever the job emits, finished. Unsubscribing
 * drops later events; `waitForStageLoops()` also waits for a job that is still running.
 */
export function oneShotStage(spec: OneShotSpec): Observable<StageEvent> {
  return new Observable<StageEvent>((subscriber) => {
    let cancelled = false;
    const emit = (e: StageEvent) => {
      if (!cancelled) subscriber.next(e);
    };
    running++;
    emit({ type: 'started', stage: spec.stage, kind: spec.kind, totalSteps: spec.totalSteps, time: Date.now() });
    const handle = setImmediate(async () => {
      try {
        const out = await spec.run(emit, () => cancelled);
        emit({ type: 'finished', stage: spec.stage, policy: out.policy, summary: out.summary, result: out.result });
        if (!cancelled) subscriber.complete();
      } catch (e) {
        if (!cancelled) subscriber.error(e);
      } finally {
        markIdle();
      }
    });
    return () => {
      cancelled = true;
      void handle;
    };
  });
}
