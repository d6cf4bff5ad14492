import type { ObservableInput } from 'rxjs';
import type { Policy, Task } from '@emrl/rl-grpo';
import { initBackend } from '@emrl/lm';
import type { BackendPreference, DiagnosticsConfig, ModelSpec, TaskSpec } from './config/pipeline-schema';
import { stageRegistry, type StageRegistry } from './config/stage-registry';

/** Raised by a runtime piece that is not connected to its implementation yet (exit code 1). */
export class NotWiredError extends Error {
  constructor(what: string) {
    super(`${what} is not wired into apps/pipeline yet (see PipelineRuntime in apps/pipeline/src/runtime.ts)`);
    this.name = 'NotWiredError';
  }
}

export interface DiagnoseContext {
  task: Task;
  config: DiagnosticsConfig;
  seed: number;
  /** What prepareProbe returned for the run's initial policy (e.g. fixed probe responses). */
  probe?: unknown;
}

/** Everything the app needs from the libraries to run a pipeline; tests pass fakes. */
export interface PipelineRuntime {
  registry: StageRegistry;
  /** Returns the backend record stored in config.json. */
  initBackend(prefer: BackendPreference): Promise<unknown>;
  loadPolicy(model: ModelSpec, seed: number): Promise<Policy>;
  /** Builds the task; the task registry validates the task spec's own options. */
  loadTask(task: TaskSpec): Promise<Task>;
  /**
   * Called once per run (and again on resume) with the INITIAL policy, before any stage trains it:
   * fixes what every boundary is measured on (probe responses), so boundaries compare like with like.
   */
  prepareProbe?(policy: Policy, ctx: Omit<DiagnoseContext, 'probe'>): Promise<unknown>;
  /** Boundary diagnostics; must return a report/diagnostics-schema.ts DiagnosticsRecord. */
  diagnose(policy: Policy, boundary: string, ctx: DiagnoseContext): ObservableInput<Record<string, unknown>>;
  /** Restore a stage's saved policy (resume). `base` is the run's initial policy (tokenizer, config). */
  loadCheckpoint(path: string, base: Policy): Promise<Policy>;
}

/**
 * The CLI's runtime. Stage kinds come from the global registry (registerStageFactory); model
 * loading, tasks, diagnostics and checkpoint loading are plugged in with `configureRuntime`.
 */
let runtime: PipelineRuntime = {
  registry: stageRegistry,
  initBackend: (prefer) => initBackend({ prefer }),
  loadPolicy: () => Promise.reject(new NotWiredError('model loading (runtime.loadPolicy)')),
  loadTask: () => Promise.reject(new NotWiredError('the task registry (runtime.loadTask)')),
  diagnose: () => Promise.reject(new NotWiredError('boundary diagnostics (runtime.diagnose)')),
  loadCheckpoint: () => Promise.reject(new NotWiredError('checkpoint loading (runtime.loadCheckpoint)')),
};

export function getRuntime(): PipelineRuntime {
  return runtime;
}

export function configureRuntime(parts: Partial<PipelineRuntime>): PipelineRuntime {
  runtime = { ...runtime, ...parts };
  return runtime;
}
