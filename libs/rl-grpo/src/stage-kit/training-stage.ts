import type { Observable } from 'rxjs';
import type { Trainer } from '../trainer/trainer';
import type { TrainerHooks } from './plugin';
import type { Policy } from '../policy';
import type { StageContext, StageEvent } from './stage';
import { checkpointDue, resumeFromCheckpoint, saveTrainingCheckpoint } from './stage-checkpoint';
import { stepLoop } from './stage-loop';

/** What a training stage builds when it starts: its trainer and the hooks the trainer runs. */
export interface TrainingRun {
  trainer: Trainer;
  /** The same hooks the trainer was given (the stage saves and restores their state). */
  hooks: TrainerHooks;
  logs?: string[];
}

export interface TrainingStageSpec {
  stage: string;
  kind: string;
  totalSteps: number;
  logEvery?: number;
  /** Save every N steps (0: only at the end) when the context has a checkpoint directory. */
  checkpointEvery: number;
  /** Also save once this many minutes passed since the last save (or the stage's start); 0 or absent: off. */
  checkpointMinutes?: number;
  ctx: StageContext;
  build(): Promise<TrainingRun> | TrainingRun;
  /** Before the last checkpoint is written, e.g. attach (or merge) a trained adapter. */
  beforeFinalCheckpoint?(): Promise<void> | void;
  /** The stage's result JSON (hooks add their own fragments to it). */
  result?(): Record<string, unknown>;
}

/** The step and checkpoint cadence of a training stage, from its id, kind and config. */
export function stageCadence(
  stage: { id: string; kind: string },
  c: { steps: number; logEvery?: number; checkpointEvery: number; checkpointMinutes?: number },
): Pick<TrainingStageSpec, 'stage' | 'kind' | 'totalSteps' | 'logEvery' | 'checkpointEvery' | 'checkpointMinutes'> {
  return { stage: stage.id, kind: stage.kind, totalSteps: c.steps, logEvery: c.logEvery, checkpointEvery: c.checkpointEvery, checkpointMinutes: c.checkpointMinutes };
}

/**
 * The one runner of every training stage (GRPO, the EM warm start, compression): builds the
 * trainer, resumes it from the stage's latest checkpoint (weights, optimizer moments, term and hook
 * states, a trained adapter), runs its steps with the hooks, and checkpoints exactly what trained
 * plus every attached adapter.
 */
export function trainingStage(spec: TrainingStageSpec): Observable<StageEvent> {
  const { ctx } = spec;
  let run: TrainingRun | null = null;
  let last: Record<string, number> = {};
  let finalSaved = false;
  let lastSave = performance.now();
  const timeDue = () => (spec.checkpointMinutes ?? 0) > 0 && performance.now() - lastSave >= spec.checkpointMinutes! * 60_000;
  const trainedAdapter = () => (run!.trainer.parameters.kind === 'adapter' ? run!.trainer.parameters.named() : undefined);
  return stepLoop({
    stage: spec.stage,
    kind: spec.kind,
    totalSteps: spec.totalSteps,
    logEvery: spec.logEvery,
    setup: async () => {
      run = await spec.build();
      const { trainer, hooks } = run;
      const logs = [...(run.logs ?? [])];
      const resumed = await resumeFromCheckpoint(ctx, ctx.policy, (s) => trainer.loadOptimizerState(s), trainedAdapter());
      if (!resumed) {
        logs.push(...((await hooks.onStart?.({ stage: spec.stage, totalSteps: spec.totalSteps })) ?? []));
        return { startStep: 0, logs };
      }
      logs.push(resumed.log);
      trainer.loadTermStates(resumed.state.pluginStates);
      const saved = resumed.state.extra['hooks'];
      const stop = saved !== undefined && saved !== null ? await hooks.loadState?.(saved) : undefined;
      if (stop && stop.stop) {
        logs.push(`already stopped: ${stop.reason}`);
        return { startStep: spec.totalSteps, logs };
      }
      return { startStep: resumed.state.step, logs };
    },
    step: async (step) => {
      const out = await run!.trainer.step(step);
      if (!out.skipped) last = out.metrics;
      return out;
    },
    checkpoint: async (step, isLast) => {
      if (isLast && !finalSaved) {
        finalSaved = true;
        await spec.beforeFinalCheckpoint?.();
      }
      if (!ctx.checkpointDir || !(checkpointDue(step, isLast, spec.checkpointEvery) || timeDue())) return null;
      lastSave = performance.now();
      const { trainer, hooks } = run!;
      const saved = await saveTrainingCheckpoint(ctx.checkpointDir, {
        step: step + 1,
        policy: ctx.policy,
        optimizerState: trainer.optimizerState(),
        pluginStates: trainer.termStates(),
        extra: { hooks: hooks.state?.() ?? null },
        trainedAdapter: trainedAdapter(),
      });
      return saved.path;
    },
    finish: async (stopped) => {
      if (!finalSaved) {
        finalSaved = true;
        await spec.beforeFinalCheckpoint?.();
      }
      const summary = { ...last };
      const fromHooks = run!.hooks.finish?.(summary, stopped) ?? {};
      const result = { ...(spec.result?.() ?? {}), ...fromHooks };
      const policy: Policy = { ...ctx.policy, name: `${ctx.policy.name}>${spec.stage}` };
      return { policy, summary, ...(Object.keys(result).length ? { result } : {}) };
    },
    teardown: () => {
      run?.hooks.dispose?.();
      run?.trainer.dispose();
      run = null;
    },
  });
}
