import type { Policy, StageEvent } from '@emrl/rl-grpo';

/** Events the scheduler adds around stage events. `time` is ms since the epoch (or the test clock). */
export type RunEvent =
  | { type: 'run-started'; run: string; stages: { id: string; kind: string }[]; resumed: boolean; time: number }
  | { type: 'stage-skipped'; stage: string; reason: 'completed'; time: number }
  | { type: 'stage-resumed'; stage: string; fromStep: number; time: number }
  | {
      type: 'diagnostics';
      /** "start" or "after:<stage id>". */
      boundary: string;
      /** Stage id just finished, null at the start. */
      after: string | null;
      policy: string;
      /** Filled by the injected diagnose function; report/diagnostics-schema.ts gives its shape. */
      diagnostics: Record<string, unknown>;
      wallMs: number;
      time: number;
    }
  | { type: 'run-finished'; wallMs: Record<string, number>; totalWallMs: number; time: number }
  | { type: 'run-interrupted'; stage: string | null; time: number }
  | { type: 'run-failed'; stage: string | null; message: string; time: number };

export type PipelineEvent = StageEvent | RunEvent;

/** Run-level lifecycle events that differ between an interrupted+resumed run and a straight one. */
export const LIFECYCLE_EVENT_TYPES = ['run-started', 'stage-skipped', 'stage-resumed', 'run-interrupted', 'run-failed'] as const;

export function isPolicy(v: unknown): v is Policy {
  return v !== null && typeof v === 'object' && 'model' in v && 'tokenizer' in v && typeof (v as { name?: unknown }).name === 'string';
}

/** One JSON line; Policy objects become their name. */
export function serializeEvent(e: PipelineEvent): string {
  return JSON.stringify(e, (_key, value: unknown) => (isPolicy(value) ? value.name : value));
}
