import type { Observable } from 'rxjs';
import type { z } from 'zod';
import type { Policy } from '../policy';
import type { Task } from '../tasks/task';

/** Everything a stage needs besides its own config. */
export interface StageContext {
  policy: Policy;
  task: Task;
  /** Base seed of the run; a stage derives its own streams from it. */
  seed: number;
  /** Directory where this stage may write checkpoints (`<run>/checkpoints/<stage-id>`); absent = don't. */
  checkpointDir?: string;
  /** Set when resuming: the stage continues from its latest checkpoint in checkpointDir, if any. */
  resumeStep?: number;
  /** Results of the stages that finished earlier in this pipeline, by stage id (e.g. a selection ranking). */
  previous?: Readonly<Record<string, { kind: string; result?: unknown }>>;
}

/** Events a stage emits, in order: started, (progress | metrics | checkpoint | log)*, finished. */
export type StageEvent =
  | { type: 'started'; stage: string; kind: string; totalSteps: number; time: number }
  | {
      type: 'progress';
      stage: string;
      step: number;
      totalSteps: number;
      tokensPerSec?: number;
      etaSec?: number;
      loss?: number;
      reward?: number;
    }
  | { type: 'metrics'; stage: string; step: number; metrics: Record<string, number> }
  | { type: 'checkpoint'; stage: string; step: number; path: string }
  | { type: 'log'; stage: string; level: 'info' | 'warn'; message: string; data?: Record<string, unknown> }
  | {
      type: 'finished';
      stage: string;
      policy: Policy;
      summary: Record<string, number>;
      /** Set when a hook or criterion stopped the stage before totalSteps. */
      stopped?: { step: number; reason: string };
      /** Stage-specific JSON result (evaluation tables, selection ranking, ...). */
      result?: unknown;
    };

/**
 * A stage of a pipeline. `run` is cold: nothing happens until subscription. Unsubscribing stops
 * after the current step, disposes the stage's tensors, and leaves the last checkpoint intact.
 */
export interface Stage<C = unknown> {
  /** Stage kind, e.g. "grpo", "eval", "em". */
  readonly kind: string;
  /** Unique id in a pipeline, e.g. "em" or "grpo-2". */
  readonly id: string;
  readonly config: C;
  run(ctx: StageContext): Observable<StageEvent>;
}

/** How stage kinds are registered: a zod schema for the config and a factory. */
export interface StageFactory<S extends z.ZodType = z.ZodType> {
  kind: string;
  schema: S;
  create(id: string, config: z.infer<S>): Stage<z.infer<S>>;
}
