import { join } from 'node:path';
import { EMPTY, finalize, type Observable } from 'rxjs';
import { renderPrompt, type Policy, type Task } from '@emrl/rl-grpo';
import type { Tokenizer } from '@emrl/lm';
import { ConfigError } from './config/config-error';
import { createStages, parsePipelineConfig, resolveConfig } from './config/load-config';
import { applySetFlags } from './config/overrides';
import type { PipelineConfig } from './config/pipeline-schema';
import type { PipelineEvent } from './pipeline-events';
import { buildRunRecord } from './run-record';
import { CONFIG_FILE, RunDir, type RunRecord } from './run-dir';
import { NotWiredError, type PipelineRuntime } from './runtime';
import { runPipeline } from './scheduler';
import { startRunThreads } from './run-threads';

export interface PreparedRun {
  runDir: RunDir;
  config: PipelineConfig;
  /** Cold: subscribe to run. Already-finished runs (resume) give an empty run-less stream. */
  events: Observable<PipelineEvent>;
  alreadyFinished: boolean;
}

/**
 * A task or model that cannot be loaded (unknown task type, bad JSONL line, missing model
 * directory) is bad input: re-thrown as a ConfigError naming the config field, so the CLI exits 2.
 */
async function loadInput<T>(field: 'task' | 'model', load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (e) {
    if (e instanceof ConfigError || e instanceof NotWiredError) throw e;
    throw new ConfigError(field, [e instanceof Error ? e.message : String(e)]);
  }
}

/**
 * Renders the first prompt of every split the task has: a chat template that fails on this task's
 * messages (e.g. a template that refuses a system prompt) stops the run before it writes anything.
 */
function checkPromptsRender(task: Task, tokenizer: Tokenizer): void {
  for (const split of ['train', 'test', 'probe'] as const) {
    let first;
    try {
      first = task.split(split)[0];
    } catch {
      continue; // a split this task does not have; the stages that read it are checked elsewhere
    }
    if (first) renderPrompt(task, first, tokenizer);
  }
}

async function prepare(config: PipelineConfig, runtime: PipelineRuntime) {
  const stages = createStages(config, runtime.registry);
  const backendInfo = await runtime.initBackend(config.backend);
  const task = await loadInput('task', () => runtime.loadTask(config.task));
  const policy = await loadInput('model', () => runtime.loadPolicy(config.model, config.seed));
  try {
    await loadInput('task', async () => checkPromptsRender(task, policy.tokenizer));
  } catch (e) {
    policy.model.dispose();
    throw e;
  }
  // Worker threads (threads - 1) share every stage's rows; the run record says how many ran.
  const threads = await startRunThreads(config.threads, backendInfo);
  if (threads.workers) policy.workers = threads.workers;
  const backend = backendInfo && typeof backendInfo === 'object' ? { ...backendInfo, threads: threads.record } : backendInfo;
  const closeWorkers = () => void threads.workers?.close();
  const base = { task, config: config.diagnostics, seed: config.seed };
  const probe = config.diagnostics.enabled && runtime.prepareProbe ? await runtime.prepareProbe(policy, base) : undefined;
  const diagnose = config.diagnostics.enabled
    ? (p: typeof policy, boundary: string) => runtime.diagnose(p, boundary, { ...base, probe })
    : () => Promise.resolve({});
  return { stages, backend, task, policy, diagnose, closeWorkers };
}

/** A policy restored from a checkpoint keeps the run's worker threads. */
async function withWorkers(loaded: Promise<Policy>, base: Policy): Promise<Policy> {
  const p = await loaded;
  return base.workers ? { ...p, workers: base.workers } : p;
}

/** Load the model and task, create the run directory and return the (cold) pipeline. */
export async function startRun(opts: { config: PipelineConfig; runtime: PipelineRuntime; root?: string; dir?: string }): Promise<PreparedRun> {
  const { config, runtime } = opts;
  const p = await prepare(config, runtime);
  const runDir = RunDir.create({ name: config.name, ...(opts.root ? { root: opts.root } : {}), ...(opts.dir ? { dir: opts.dir } : {}) });
  runDir.writeConfig(buildRunRecord({ name: config.name, pipeline: resolveConfig(config), seed: config.seed, backend: p.backend }));
  const events = runPipeline({
    stages: p.stages,
    context: { policy: p.policy, task: p.task, seed: config.seed },
    diagnose: p.diagnose,
    runDir,
    name: runDir.dir.split(/[\\/]/).pop()!,
    loadCheckpoint: (path) => withWorkers(runtime.loadCheckpoint(path, p.policy), p.policy),
  }).pipe(finalize(p.closeWorkers));
  return { runDir, config, events, alreadyFinished: false };
}

/**
 * The recorded pipeline with `--set` overrides applied (e.g. a lower lr after a non-finite step),
 * validated, and written back to config.json so the run records what it continued with.
 */
function withResumeOverrides(runDir: RunDir, record: RunRecord, overrides: readonly string[], registry: PipelineRuntime['registry']): PipelineConfig {
  const file = join(runDir.dir, CONFIG_FILE);
  const config = parsePipelineConfig(applySetFlags(record.pipeline, overrides, file), file, registry);
  if (overrides.length > 0) runDir.writeConfig({ ...record, pipeline: resolveConfig(config) as unknown as Record<string, unknown> });
  return config;
}

/** Re-open a run directory and continue from its last completed checkpoint (optionally with `--set` overrides). */
export async function resumeRun(opts: { dir: string; runtime: PipelineRuntime; overrides?: readonly string[] }): Promise<PreparedRun> {
  const runDir = RunDir.open(opts.dir);
  const record = runDir.readConfig();
  const config = withResumeOverrides(runDir, record, opts.overrides ?? [], opts.runtime.registry);
  const state = runDir.readState();
  if (state?.finished) return { runDir, config, events: EMPTY, alreadyFinished: true };
  const p = await prepare(config, opts.runtime);
  const events = runPipeline({
    stages: p.stages,
    context: { policy: p.policy, task: p.task, seed: config.seed },
    diagnose: p.diagnose,
    runDir,
    resume: state !== undefined,
    name: runDir.dir.split(/[\\/]/).pop()!,
    loadCheckpoint: (path) => withWorkers(opts.runtime.loadCheckpoint(path, p.policy), p.policy),
  }).pipe(finalize(p.closeWorkers));
  return { runDir, config, events, alreadyFinished: false };
}
