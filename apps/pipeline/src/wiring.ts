import { configureRuntime, getRuntime, type PipelineRuntime } from './runtime';

/**
 * Connect the libraries to the app: called once by main.ts and by every sweep worker process.
 * Plug-in points (each currently reports "not wired" when used):
 *   - registerStageFactory(...) for select / em / grpo / compress / eval (rl-grpo, em-plugin)
 *   - configureRuntime({ loadPolicy, loadTask, diagnose, loadCheckpoint })
 */
export function wireRuntime(): PipelineRuntime {
  return configureRuntime({});
}

export { getRuntime };
