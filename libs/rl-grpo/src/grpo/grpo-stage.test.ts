import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ByteTokenizer } from '@emrl/lm';
import { makeTinyModel, setupTestBackend } from '@emrl/lm/testing';
import { lastValueFrom, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grpoConfigSchema, type GrpoConfigInput } from './grpo-config';
import { createRegistry } from '../builtins';
import type { TrainerHooks } from '../stage-kit/plugin';
import type { Policy } from '../policy';
import type { Stage, StageContext, StageEvent } from '../stage-kit/stage';
import { findLatestCheckpoint, loadTrainingCheckpoint } from '../stage-kit/stage-checkpoint';
import { waitForStageLoops } from '../stage-kit/stage-loop';
import type { Task, TaskExample } from '../tasks/task';
import { GrpoStage as RegistryGrpoStage, grpoStageFactory } from './grpo-stage';

const registry = createRegistry();
/** The stage on the built-in registry (the CLI passes its own). */
class GrpoStage extends RegistryGrpoStage {
  constructor(id: string, config: ConstructorParameters<typeof RegistryGrpoStage>[1], hooks: TrainerHooks[] = []) {
    super(id, config, registry, hooks);
  }
}

const dirs: string[] = [];
beforeAll(async () => {
  await setupTestBackend();
});
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'grpo-stage-test-'));
  dirs.push(d);
  return d;
}

const examples: TaskExample[] = Array.from({ length: 8 }, (_, i) => ({ id: `p${i}`, prompt: `p${i}:`, answer: 'x' }));
/** Correct iff the completion starts with a lowercase letter. */
const task: Task = {
  name: 'letter',
  split: (name) => (name === 'test' ? examples.slice(0, 4) : examples),
  verify: (c) => ({ correct: /^[a-z]/.test(c), extracted: c.length ? c[0]! : null, formatOk: c.length > 0 }),
  extractAnswer: (c) => (c.length ? c[0]! : null),
  stopSequences: ['$'],
  maxCompletionLength: 3,
};

function freshPolicy(): Policy {
  return { model: makeTinyModel({ family: 'gpt2', vocabSize: 258, seed: 0, weightScale: 1 }), tokenizer: new ByteTokenizer(), name: 'tiny' };
}

function config(over: GrpoConfigInput = {}) {
  return grpoConfigSchema(registry).parse({
    steps: 6,
    promptsPerStep: 2,
    groupSize: 4,
    lr: 1e-2,
    beta: 0.04,
    schedule: { type: 'warmup-cosine', warmupSteps: 2 },
    plugins: [{ 'entropy-bonus': { coef: 0.01, targetEntropy: 5.5, coefDelta: 0.003 } }],
    ...over,
  });
}

async function collect(stage: Stage, ctx: StageContext): Promise<StageEvent[]> {
  return lastValueFrom(stage.run(ctx).pipe(toArray()));
}

const stopAt = (step: number, reason: string): TrainerHooks => ({
  afterStep: (info) => (info.step === step ? { stop: true, reason } : undefined),
});

function stepMetrics(events: StageEvent[]): Map<number, Record<string, number>> {
  const out = new Map<number, Record<string, number>>();
  for (const e of events) {
    if (e.type === 'metrics') out.set(e.step, Object.fromEntries(Object.entries(e.metrics).filter(([k]) => !k.startsWith('perf/'))));
  }
  return out;
}

describe('GrpoStage', () => {
  it('emits started, progress, metrics and finished, and is built from config by its factory', async () => {
    const policy = freshPolicy();
    const before = tf.memory().numTensors;
    const factory = grpoStageFactory(registry);
    const stage = factory.create('grpo-a', factory.schema.parse({ steps: 3, promptsPerStep: 2, groupSize: 2, logEvery: 2 }));
    const events = await collect(stage, { policy, task, seed: 1 });
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('started');
    expect(types[types.length - 1]).toBe('finished');
    expect(events[0]).toMatchObject({ stage: 'grpo-a', kind: 'grpo', totalSteps: 3 });
    expect(events.filter((e) => e.type === 'metrics').map((e) => (e as { step: number }).step)).toEqual([1, 2, 3]);
    // logEvery 2: steps 0 and 2 (1-based 1 and 3, the last always) report progress.
    expect(events.filter((e) => e.type === 'progress').map((e) => (e as { step: number }).step)).toEqual([1, 3]);
    const fin = events[events.length - 1] as Extract<StageEvent, { type: 'finished' }>;
    expect(fin.stopped).toBeUndefined();
    expect(fin.policy.model).toBe(policy.model);
    expect(fin.policy.name).toBe('tiny>grpo-a');
    expect(fin.summary['reward']).toBe(stepMetrics(events).get(3)!['reward']);
    expect(tf.memory().numTensors).toBe(before); // reference model and optimizer moments released
    policy.model.dispose();
  });

  it('stops when a hook asks, with the reason; evaluation hooks run every evalEvery steps', async () => {
    const policy = freshPolicy();
    const evals: number[] = [];
    const hooks: TrainerHooks = {
      beforeEval: ({ step }) => void evals.push(step),
      afterEval: ({ step, metrics }) => (step === 3 && metrics['eval_accuracy'] !== undefined ? { stop: true, reason: 'eval says so' } : undefined),
    };
    const stage = new GrpoStage('g', config({ evalEvery: 2, plugins: [] }), [hooks]);
    const events = await collect(stage, { policy, task, seed: 1 });
    const fin = events[events.length - 1] as Extract<StageEvent, { type: 'finished' }>;
    expect(evals).toEqual([1, 3]);
    expect(fin.stopped).toEqual({ step: 4, reason: 'eval says so' });
    expect(stepMetrics(events).get(2)!['eval_accuracy']).toBeGreaterThanOrEqual(0);
    expect(events.some((e) => e.type === 'log' && /stopped early at step 4: eval says so/.test(e.message))).toBe(true);

    const stage2 = new GrpoStage('g', config({ plugins: [] }), [stopAt(1, 'after hook')]);
    const fin2 = (await collect(stage2, { policy, task, seed: 1 })).pop() as Extract<StageEvent, { type: 'finished' }>;
    expect(fin2.stopped).toEqual({ step: 2, reason: 'after hook' });
    policy.model.dispose();
  });

  it('a beforeStep stop counts only the completed steps and checkpoints them', async () => {
    const policy = freshPolicy();
    const dir = await tempDir();
    const hooks: TrainerHooks = { beforeStep: ({ step }) => (step === 3 ? { stop: true, reason: 'budget' } : undefined) };
    const events = await collect(new GrpoStage('g', config({ plugins: [] }), [hooks]), { policy, task, seed: 1, checkpointDir: dir });
    const fin = events[events.length - 1] as Extract<StageEvent, { type: 'finished' }>;
    expect(fin.stopped).toEqual({ step: 3, reason: 'budget' });
    expect([...stepMetrics(events).keys()]).toEqual([1, 2, 3]);
    expect((await findLatestCheckpoint(dir))!.step).toBe(3);
    policy.model.dispose();
  });

  it('resuming from a checkpoint reproduces an uninterrupted run exactly', async () => {
    // Uninterrupted 6 steps.
    const a = freshPolicy();
    const full = stepMetrics(await collect(new GrpoStage('g', config()), { policy: a, task, seed: 3 }));
    // 4 steps (stopped by a hook), checkpoints every 2.
    const dir = await tempDir();
    const b = freshPolicy();
    const first = await collect(new GrpoStage('g', config({ checkpointEvery: 2 }), [stopAt(3, 'interrupt')]), { policy: b, task, seed: 3, checkpointDir: dir });
    expect(first.filter((e) => e.type === 'checkpoint').map((e) => (e as { step: number }).step)).toEqual([2, 4]);
    b.model.dispose();
    // A fresh process: a new model from the same base weights, resumed from step 4.
    const c = freshPolicy();
    const second = await collect(new GrpoStage('g', config({ checkpointEvery: 2 })), { policy: c, task, seed: 3, checkpointDir: dir, resumeStep: 4 });
    expect(second.some((e) => e.type === 'log' && /resumed from .*step-000004 \(step 4\)/.test(e.message))).toBe(true);
    const resumed = stepMetrics(second);
    expect([...resumed.keys()]).toEqual([5, 6]);
    expect(resumed.get(5)!['entropy-bonus/coef']).toBe(full.get(5)!['entropy-bonus/coef']);
    expect(resumed.get(5)).toEqual(full.get(5));
    expect(resumed.get(6)).toEqual(full.get(6));
    for (const [name, w] of a.model.weights) expect(c.model.weights.get(name)!.dataSync(), name).toEqual(w.dataSync());
    a.model.dispose();
    c.model.dispose();
  });

  it('stateful hooks get their checkpointed state back on resume (a resumed run stops where a straight one does)', async () => {
    // Stops after its 5th step; the count is its state.
    const counter = (): TrainerHooks => {
      let count = 0;
      return {
        afterStep: () => (++count >= 5 ? { stop: true, reason: `counted ${count}` } : undefined),
        state: () => ({ count }),
        loadState: (s) => void (count = (s as { count: number }).count),
      };
    };
    const a = freshPolicy();
    const straight = (await collect(new GrpoStage('g', config({ plugins: [] }), [counter(), {}]), { policy: a, task, seed: 3 })).pop() as Extract<StageEvent, { type: 'finished' }>;
    expect(straight.stopped).toEqual({ step: 5, reason: 'counted 5' });
    a.model.dispose();
    const dir = await tempDir();
    const b = freshPolicy();
    await collect(new GrpoStage('g', config({ plugins: [], checkpointEvery: 2 }), [counter(), stopAt(3, 'interrupt')]), { policy: b, task, seed: 3, checkpointDir: dir });
    b.model.dispose();
    const c = freshPolicy();
    const resumed = (await collect(new GrpoStage('g', config({ plugins: [], checkpointEvery: 2 }), [counter(), {}]), { policy: c, task, seed: 3, checkpointDir: dir, resumeStep: 4 })).pop() as Extract<StageEvent, { type: 'finished' }>;
    expect(resumed.stopped).toEqual({ step: 5, reason: 'counted 5' }); // a fresh counter without its state would run to step 6
    c.model.dispose();
    // Hooks that do not match the saved state are named, not silently ignored.
    const d = freshPolicy();
    const bad = collect(new GrpoStage('g', config({ plugins: [], checkpointEvery: 2 }), [{}]), { policy: d, task, seed: 3, checkpointDir: dir, resumeStep: 4 });
    await expect(bad).rejects.toThrow(/state for 1 stateful hook set\(s\) but this run has 0/);
    d.model.dispose();
  });

  it('unsubscribing mid-run stops after the current step with an intact latest checkpoint', async () => {
    const policy = freshPolicy();
    const dir = await tempDir();
    const before = tf.memory().numTensors;
    const seen: StageEvent[] = [];
    await new Promise<void>((resolve, reject) => {
      const sub = new GrpoStage('g', config({ steps: 20, checkpointEvery: 2 })).run({ policy, task, seed: 1, checkpointDir: dir }).subscribe({
        next: (e) => {
          seen.push(e);
          if (e.type === 'metrics' && e.step === 2) {
            sub.unsubscribe();
            resolve();
          }
        },
        error: reject,
      });
    });
    await waitForStageLoops();
    expect(seen.filter((e) => e.type === 'metrics')).toHaveLength(2);
    expect(seen.some((e) => e.type === 'finished')).toBe(false);
    expect(tf.memory().numTensors).toBe(before);
    const latest = JSON.parse(await readFile(join(dir, 'latest.json'), 'utf8')) as { step: number; path: string };
    expect(latest).toEqual({ step: 2, path: 'step-000002' });
    expect((await readdir(dir)).sort()).toEqual(['latest.json', 'step-000002']);
    const files = await readdir(join(dir, latest.path));
    expect(files).toEqual(expect.arrayContaining(['config.json', 'optimizer.safetensors', 'trainer-state.json']));
    const other = freshPolicy();
    const { state, optimizerState } = await loadTrainingCheckpoint(join(dir, latest.path), other);
    expect(state.step).toBe(2);
    expect(state.pluginStates['entropy-bonus']).toBeDefined();
    expect(optimizerState['optimizer/iterations']!.dataSync()[0]).toBe(2);
    Object.values(optimizerState).forEach((t) => t.dispose());
    for (const [name, w] of policy.model.weights) expect(other.model.weights.get(name)!.dataSync(), name).toEqual(w.dataSync());
    other.model.dispose();
    policy.model.dispose();
  });
});
