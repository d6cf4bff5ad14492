import { concat, defer, EMPTY, filter, finalize, ignoreElements, map, of, tap, type Observable, type ObservableInput } from 'rxjs';
import type { Policy, Stage, StageContext } from '@emrl/rl-grpo';
import type { PipelineEvent } from './pipeline-events';
import type { RunDir, RunState } from './run-dir';

/** Measures a policy at a stage boundary ("start", "after:<id>"); see report/diagnostics-schema.ts. */
export type DiagnoseFn = (policy: Policy, boundary: string) => ObservableInput<Record<string, unknown>>;

export interface RunPipelineOptions {
  stages: readonly Stage[];
  /** Initial policy, task and seed; checkpointDir/resumeStep are set per stage by the scheduler. */
  context: Omit<StageContext, 'checkpointDir' | 'resumeStep'>;
  diagnose: DiagnoseFn;
  runDir: RunDir;
  /** Continue the run recorded in runDir (skip completed stages, resume a partial one). */
  resume?: boolean;
  /** Loads the policy saved by a completed stage (needed on resume after a policy-changing stage). */
  loadCheckpoint?: (path: string) => Promise<Policy>;
  /** Run name for run-started (default: the run dir's folder name). */
  name?: string;
  /** Clock in ms (tests pass the TestScheduler's). */
  now?: () => number;
}

function initialState(stages: readonly Stage[]): RunState {
  return {
    version: 1,
    stages: stages.map((s) => ({ id: s.id, kind: s.kind, status: 'pending', wallMs: 0 })),
    boundaries: [],
    eventsBytes: 0,
    finished: false,
  };
}

function checkSameStages(state: RunState, stages: readonly Stage[], dir: string): void {
  const want = stages.map((s) => `${s.id}:${s.kind}`).join(', ');
  const have = state.stages.map((s) => `${s.id}:${s.kind}`).join(', ');
  if (want !== have) throw new Error(`${dir}: the recorded stages (${have}) differ from the pipeline's (${want}); resume needs the same pipeline`);
}

/**
 * Run stages in order as one Observable: diagnostics at every boundary (start, after each stage),
 * each stage's events forwarded, the policy of a stage's `finished` event fed to the next stage.
 * Every event is appended to the run dir; stage-state.json is saved after each checkpoint, stage and
 * boundary so the run can resume. Cold; unsubscribing cancels the running stage.
 */
export function runPipeline(opts: RunPipelineOptions): Observable<PipelineEvent> {
  const now = opts.now ?? Date.now;
  const { runDir, stages } = opts;
  return defer(() => {
    const state = opts.resume ? runDir.prepareResume() : initialState(stages);
    if (opts.resume) checkSameStages(state, stages, runDir.dir);
    else runDir.saveState(state);
    const t0 = now();
    let policy = opts.context.policy;
    let current: string | null = null;
    let stageStart = 0;
    let done = false;

    const record = (e: PipelineEvent): void => {
      runDir.appendEvent(e);
      const rec = 'stage' in e ? state.stages.find((s) => s.id === e.stage) : undefined;
      switch (e.type) {
        case 'checkpoint':
          if (rec) rec.lastCheckpoint = { step: e.step, path: e.path };
          runDir.saveState(state);
          break;
        case 'finished':
          if (rec) {
            rec.status = 'completed';
            rec.wallMs += now() - stageStart;
            rec.summary = e.summary;
            rec.result = e.result;
            rec.policyChanged = e.policy !== policy || e.policy.name !== policy.name;
            rec.outputPolicy = e.policy.name;
          }
          policy = e.policy;
          current = null;
          runDir.saveState(state);
          break;
        case 'diagnostics':
          state.boundaries.push(e.boundary);
          runDir.saveState(state);
          break;
        case 'run-finished':
          state.finished = true;
          done = true;
          runDir.saveState(state);
          break;
        default:
          break;
      }
    };

    // A stage that leaves the policy unchanged (select, eval) gets the previous boundary's record.
    let lastDiagnostics: { policy: Policy; name: string; diagnostics: Record<string, unknown> } | null = null;
    const boundary = (name: string, after: string | null): Observable<PipelineEvent> =>
      defer(() => {
        if (state.boundaries.includes(name)) return EMPTY;
        const start = now();
        const p = policy;
        if (lastDiagnostics && lastDiagnostics.policy === p && lastDiagnostics.name === p.name) {
          const diagnostics = { ...lastDiagnostics.diagnostics, reusedFrom: lastDiagnostics.name };
          return of<PipelineEvent>({ type: 'diagnostics', boundary: name, after, policy: p.name, diagnostics, wallMs: 0, time: now() });
        }
        return defer(() => opts.diagnose(p, name)).pipe(
          tap((diagnostics) => (lastDiagnostics = { policy: p, name: p.name, diagnostics })),
          map((diagnostics): PipelineEvent => ({ type: 'diagnostics', boundary: name, after, policy: p.name, diagnostics, wallMs: now() - start, time: now() })),
        );
      });

    const runStage = (stage: Stage): Observable<PipelineEvent> =>
      defer(() => {
        const rec = state.stages.find((s) => s.id === stage.id)!;
        const resumeStep = rec.status === 'running' ? rec.lastCheckpoint?.step : undefined;
        rec.status = 'running';
        current = stage.id;
        stageStart = now();
        const previous = Object.fromEntries(
          state.stages.filter((s) => s.status === 'completed').map((s) => [s.id, { kind: s.kind, result: s.result }]),
        );
        const ctx: StageContext = {
          ...opts.context,
          policy,
          previous,
          checkpointDir: runDir.checkpointDir(stage.id),
          ...(resumeStep !== undefined ? { resumeStep } : {}),
        };
        const events = stage.run(ctx) as Observable<PipelineEvent>;
        if (resumeStep === undefined) return events;
        // The first attempt's `started` is already in events.jsonl (before the checkpoint).
        return concat(
          of<PipelineEvent>({ type: 'stage-resumed', stage: stage.id, fromStep: resumeStep, time: now() }),
          events.pipe(filter((e) => e.type !== 'started')),
        );
      });

    const loadResumePolicy = defer(async () => {
      const changed = [...state.stages].reverse().find((s) => s.status === 'completed' && s.policyChanged);
      if (!changed) return;
      if (!changed.lastCheckpoint) {
        throw new Error(`${runDir.dir}: stage "${changed.id}" changed the policy but wrote no checkpoint, so the run cannot resume after it; start the run again`);
      }
      if (!opts.loadCheckpoint) throw new Error('resume needs a loadCheckpoint function to restore the policy of completed stages');
      const loaded = await opts.loadCheckpoint(changed.lastCheckpoint.path);
      // Keep the name the straight run gave this policy, so resumed and straight runs record the same provenance.
      policy = changed.outputPolicy ? { ...loaded, name: changed.outputPolicy } : loaded;
    }).pipe(ignoreElements());

    const pieces: Observable<PipelineEvent>[] = [
      defer(() => of<PipelineEvent>({ type: 'run-started', run: opts.name ?? runDir.dir.split(/[\\/]/).pop()!, stages: stages.map((s) => ({ id: s.id, kind: s.kind })), resumed: !!opts.resume, time: now() })),
    ];
    if (opts.resume) pieces.push(loadResumePolicy);
    pieces.push(boundary('start', null));
    for (const stage of stages) {
      const rec = state.stages.find((s) => s.id === stage.id)!;
      if (rec.status === 'completed') pieces.push(defer(() => of<PipelineEvent>({ type: 'stage-skipped', stage: stage.id, reason: 'completed', time: now() })));
      else pieces.push(runStage(stage));
      pieces.push(boundary(`after:${stage.id}`, stage.id));
    }
    pieces.push(
      defer(() => {
        const wallMs = Object.fromEntries(state.stages.map((s) => [s.id, s.wallMs]));
        return of<PipelineEvent>({ type: 'run-finished', wallMs, totalWallMs: now() - t0, time: now() });
      }),
    );

    let failed = false;
    return concat(...pieces).pipe(
      tap({
        next: record,
        error: (err: unknown) => {
          failed = true;
          const message = err instanceof Error ? err.message : String(err);
          runDir.appendEvent({ type: 'run-failed', stage: current, message, time: now() });
          state.failed = message;
          runDir.saveState(state, false);
        },
      }),
      finalize(() => {
        if (done || failed) return;
        // Unsubscribed: keep the resume point at the last checkpoint; the tail is moved away on resume.
        const rec = current ? state.stages.find((s) => s.id === current) : undefined;
        if (rec) rec.wallMs += now() - stageStart;
        runDir.appendEvent({ type: 'run-interrupted', stage: current, time: now() });
        state.interrupted = true;
        runDir.saveState(state, false);
      }),
    );
  });
}
