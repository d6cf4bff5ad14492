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

/** The mutable state of one pipeline execution: the run state file, the current policy and stage. */
class PipelineRun {
  private readonly state: RunState;
  private readonly t0: number;
  private policy: Policy;
  private current: string | null = null;
  private stageStart = 0;
  private done = false;
  private failed = false;
  /** A stage that leaves the policy unchanged (select, eval) gets the previous boundary's record. */
  private lastDiagnostics: { policy: Policy; name: string; diagnostics: Record<string, unknown> } | null = null;

  constructor(
    private readonly opts: RunPipelineOptions,
    private readonly now: () => number,
  ) {
    const { runDir, stages } = opts;
    this.state = opts.resume ? runDir.prepareResume() : initialState(stages);
    if (opts.resume) checkSameStages(this.state, stages, runDir.dir);
    else runDir.saveState(this.state);
    this.t0 = now();
    this.policy = opts.context.policy;
  }

  /** The whole run: run-started, (resume policy), boundaries and stages in order, run-finished. */
  events(): Observable<PipelineEvent> {
    const { opts, state, now } = this;
    const pieces: Observable<PipelineEvent>[] = [
      defer(() => of<PipelineEvent>({ type: 'run-started', run: opts.name ?? opts.runDir.dir.split(/[\\/]/).pop()!, stages: opts.stages.map((s) => ({ id: s.id, kind: s.kind })), resumed: !!opts.resume, time: now() })),
    ];
    if (opts.resume) pieces.push(this.loadResumePolicy());
    pieces.push(this.boundary('start', null));
    for (const stage of opts.stages) {
      const rec = state.stages.find((s) => s.id === stage.id)!;
      if (rec.status === 'completed') pieces.push(defer(() => of<PipelineEvent>({ type: 'stage-skipped', stage: stage.id, reason: 'completed', time: now() })));
      else pieces.push(this.runStage(stage));
      pieces.push(this.boundary(`after:${stage.id}`, stage.id));
    }
    pieces.push(
      defer(() => {
        const wallMs = Object.fromEntries(state.stages.map((s) => [s.id, s.wallMs]));
        return of<PipelineEvent>({ type: 'run-finished', wallMs, totalWallMs: now() - this.t0, time: now() });
      }),
    );
    return concat(...pieces).pipe(
      tap({ next: (e) => this.record(e), error: (err: unknown) => this.recordFailure(err) }),
      finalize(() => this.recordInterruption()),
    );
  }

  /** Appends every event to the run dir and keeps stage-state.json current. */
  private record(e: PipelineEvent): void {
    const { runDir } = this.opts;
    const state = this.state;
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
          rec.wallMs += this.now() - this.stageStart;
          rec.summary = e.summary;
          rec.result = e.result;
          rec.policyChanged = e.policy !== this.policy || e.policy.name !== this.policy.name;
          rec.outputPolicy = e.policy.name;
        }
        this.policy = e.policy;
        this.current = null;
        runDir.saveState(state);
        break;
      case 'diagnostics':
        state.boundaries.push(e.boundary);
        runDir.saveState(state);
        break;
      case 'run-finished':
        state.finished = true;
        this.done = true;
        runDir.saveState(state);
        break;
      default:
        break;
    }
  }

  private recordFailure(err: unknown): void {
    this.failed = true;
    const message = err instanceof Error ? err.message : String(err);
    this.opts.runDir.appendEvent({ type: 'run-failed', stage: this.current, message, time: this.now() });
    this.state.failed = message;
    this.opts.runDir.saveState(this.state, false);
  }

  /** Unsubscribed: keep the resume point at the last checkpoint; the tail is moved away on resume. */
  private recordInterruption(): void {
    if (this.done || this.failed) return;
    const rec = this.current ? this.state.stages.find((s) => s.id === this.current) : undefined;
    if (rec) rec.wallMs += this.now() - this.stageStart;
    this.opts.runDir.appendEvent({ type: 'run-interrupted', stage: this.current, time: this.now() });
    this.state.interrupted = true;
    this.opts.runDir.saveState(this.state, false);
  }

  private boundary(name: string, after: string | null): Observable<PipelineEvent> {
    return defer(() => {
      if (this.state.boundaries.includes(name)) return EMPTY;
      const start = this.now();
      const p = this.policy;
      const last = this.lastDiagnostics;
      if (last && last.policy === p && last.name === p.name) {
        const diagnostics = { ...last.diagnostics, reusedFrom: last.name };
        return of<PipelineEvent>({ type: 'diagnostics', boundary: name, after, policy: p.name, diagnostics, wallMs: 0, time: this.now() });
      }
      return defer(() => this.opts.diagnose(p, name)).pipe(
        tap((diagnostics) => (this.lastDiagnostics = { policy: p, name: p.name, diagnostics })),
        map((diagnostics): PipelineEvent => ({ type: 'diagnostics', boundary: name, after, policy: p.name, diagnostics, wallMs: this.now() - start, time: this.now() })),
      );
    });
  }

  private runStage(stage: Stage): Observable<PipelineEvent> {
    return defer(() => {
      const state = this.state;
      const rec = state.stages.find((s) => s.id === stage.id)!;
      const resumeStep = rec.status === 'running' ? rec.lastCheckpoint?.step : undefined;
      rec.status = 'running';
      this.current = stage.id;
      this.stageStart = this.now();
      const previous = Object.fromEntries(state.stages.filter((s) => s.status === 'completed').map((s) => [s.id, { kind: s.kind, result: s.result }]));
      const ctx: StageContext = {
        ...this.opts.context,
        policy: this.policy,
        previous,
        checkpointDir: this.opts.runDir.checkpointDir(stage.id),
        ...(resumeStep !== undefined ? { resumeStep } : {}),
      };
      const events = stage.run(ctx) as Observable<PipelineEvent>;
      if (resumeStep === undefined) return events;
      // The first attempt's `started` is already in events.jsonl (before the checkpoint).
      return concat(
        of<PipelineEvent>({ type: 'stage-resumed', stage: stage.id, fromStep: resumeStep, time: this.now() }),
        events.pipe(filter((e) => e.type !== 'started')),
      );
    });
  }

  private loadResumePolicy(): Observable<PipelineEvent> {
    return defer(async () => {
      const { runDir, loadCheckpoint } = this.opts;
      const changed = [...this.state.stages].reverse().find((s) => s.status === 'completed' && s.policyChanged);
      if (!changed) return;
      if (!changed.lastCheckpoint) {
        throw new Error(`${runDir.dir}: stage "${changed.id}" changed the policy but wrote no checkpoint, so the run cannot resume after it; start the run again`);
      }
      if (!loadCheckpoint) throw new Error('resume needs a loadCheckpoint function to restore the policy of completed stages');
      const loaded = await loadCheckpoint(changed.lastCheckpoint.path);
      // Keep the name the straight run gave this policy, so resumed and straight runs record the same provenance.
      this.policy = changed.outputPolicy ? { ...loaded, name: changed.outputPolicy } : loaded;
    }).pipe(
      ignoreElements(),
      finalize(() => this.seedReusableDiagnostics()),
    );
  }

  /**
   * On resume, the last recorded boundary of the current policy may be reused by the next boundary
   * (after a stage that keeps the policy), exactly as the straight run reused it from memory.
   */
  private seedReusableDiagnostics(): void {
    const events = this.opts.runDir.readEvents();
    for (let i = events.length - 1; i >= 0; i--) {
      const e = events[i]!;
      if (e['type'] !== 'diagnostics') continue;
      if (e['policy'] === this.policy.name && e['diagnostics'] && typeof e['diagnostics'] === 'object') {
        const { reusedFrom: _r, ...diagnostics } = e['diagnostics'] as Record<string, unknown>;
        this.lastDiagnostics = { policy: this.policy, name: this.policy.name, diagnostics };
      }
      return;
    }
  }
}

/**
 * Run stages in order as one Observable: diagnostics at every boundary (start, after each stage),
 * each stage's events forwarded, the policy of a stage's `finished` event fed to the next stage.
 * Every event is appended to the run dir; stage-state.json is saved after each checkpoint, stage and
 * boundary so the run can resume. Cold; unsubscribing cancels the running stage.
 */
export function runPipeline(opts: RunPipelineOptions): Observable<PipelineEvent> {
  return defer(() => new PipelineRun(opts, opts.now ?? Date.now).events());
}
