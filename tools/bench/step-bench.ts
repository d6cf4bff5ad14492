import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { currentBackend, generate, loadPretrained, ModelWorkers, packBatchArrays, tokenLogProbsAndEntropy, toPackedBatch, withTotalSteps, type CausalLM } from '@emrl/lm';
import {
  createRegistry,
  createTask,
  encodePrompt,
  grpoConfigSchema,
  grpoTrainer,
  modelParameters,
  PromptSampler,
  stopTokensFor,
  streamSeed,
  Trainer,
  type LossTermPlugin,
  type Policy,
  type Sampler,
  type Task,
  type TrainBatch,
} from '@emrl/rl-grpo';
import { emEntropyTemperature, EmLossTerm, EmStageConfigSchema } from '@emrl/em-plugin';
import { cpuMs, median } from './stats';
import { runTorchScript } from './torch-runner';

/**
 * One EM step and one GRPO step of emrl's trainer on the embedded model (issue #15), built from the
 * same public parts as the `em` and `grpo` stages with the em-warmstart preset's settings, and the
 * same steps in plain PyTorch (torch_step_bench.py) on the same weights, prompts and settings.
 * Each step is split into rollout (sampler: generation, rewards, advantages, packing), score (the
 * terms' per-step constants: GRPO's old and reference log-probs) and backward + update (the rest).
 */

export const MODEL_DIR = fileURLToPath(new URL('../../models/modchain-byte', import.meta.url));
const SEED = 15;
/** Untimed steps first, on both sides. */
export const WARMUP_STEPS = 2;

/** em-warmstart's em stage (apps/pipeline/src/presets/em-warmstart.yaml). */
const EM = { steps: 10, lr: 1e-4, entropyTemperature: 0.5, sampleTemperature: 1, topP: 1, rollouts: 8 };
/** em-warmstart's grpo stage. */
const GRPO = { steps: 30, promptsPerStep: 8, groupSize: 8, numIterations: 2, lr: 1e-4, beta: 0.04, epsLow: 0.2, epsHigh: 0.28, temperature: 1 };

export interface StepTiming {
  name: 'em-step' | 'grpo-step';
  impl: 'emrl' | 'pytorch';
  threads: number;
  /** Median CPU (emrl, PyTorch 1 thread) or wall (PyTorch 2 threads) ms of the whole step. */
  ms: number;
  rolloutMs: number;
  scoreMs: number;
  updateMs: number;
  rows: number;
  seqLen: number;
  generatedTokens: number;
  /** emrl only: median wall ms of the whole step (on one thread V8's helper threads add CPU time that is not latency). */
  wallMs?: number;
}

/**
 * CPU-time phases of one trainer step. The trainer runs collect -> score -> backward + update, so
 * the rollout is everything from the step's start until the sampler's batch is in (seen by a
 * wrapped sampler, or by the first term's prepare, which the trainer calls right after collect).
 */
class StepPhases {
  /** 'cpu': process CPU time (one thread); 'wall': wall time (worker threads run alongside). */
  constructor(private readonly clock: 'cpu' | 'wall' = 'cpu') {}
  private start = process.cpuUsage();
  private wallStart = performance.now();
  rolloutMs = 0;
  scoreMs = 0;
  rows = 0;
  seqLen = 0;

  begin(): void {
    this.start = process.cpuUsage();
    this.wallStart = performance.now();
    this.rolloutMs = 0;
    this.scoreMs = 0;
  }

  endRollout(rows: number, seqLen: number): void {
    this.rolloutMs = this.elapsedMs();
    this.rows = rows;
    this.seqLen = seqLen;
  }

  elapsedMs(): number {
    return this.clock === 'cpu' ? cpuMs(this.start) : performance.now() - this.wallStart;
  }

  /** A clock reading in the same unit as elapsedMs, for timing a phase inside the step. */
  now(): number {
    return this.clock === 'cpu' ? cpuMs({ user: 0, system: 0 }) : performance.now();
  }
}

/** Marks the end of the rollout when the sampler returns (for terms without prepare, e.g. EM). */
class PhaseSampler implements Sampler {
  readonly description: string;
  constructor(
    private readonly inner: Sampler,
    private readonly phases: StepPhases,
  ) {
    this.description = inner.description;
  }
  async collect(step: number): Promise<TrainBatch> {
    const batch = await this.inner.collect(step);
    this.phases.endRollout(batch.packed.batchSize, batch.packed.seqLen);
    return batch;
  }
  dispose(): void {
    this.inner.dispose?.();
  }
}

/** Times `term.prepare` (old / reference log-probs) as the score phase; its start ends the rollout. */
function timePrepare(term: LossTermPlugin, phases: StepPhases): void {
  const prepare = term.prepare?.bind(term);
  if (!prepare) return;
  term.prepare = async (input) => {
    const parts = input.microBatches;
    phases.endRollout(
      parts.reduce((n, p) => n + p.batchSize, 0),
      Math.max(...parts.map((p) => p.seqLen)),
    );
    const t0 = phases.now();
    await prepare(input);
    phases.scoreMs += phases.now() - t0;
  };
}

interface TimedTrainer {
  trainer: Trainer;
  phases: StepPhases;
}

/** The em stage's trainer (libs/em-plugin warm-start/em-stage.ts) on one train prompt. */
function emTrainer(policy: Policy, task: Task, clock: 'cpu' | 'wall'): TimedTrainer {
  const c = EmStageConfigSchema.parse(EM);
  const phases = new StepPhases(clock);
  // The stage picks its prompt with `select`; the step's cost does not depend on which prompt.
  const prompt = task.split('train')[0]!;
  const sampler = new PromptSampler({
    policy,
    task,
    prompts: [prompt],
    rollouts: c.rollouts,
    sampling: (step) => ({ temperature: c.sampleTemperature, topP: c.topP, topK: 0, maxNewTokens: c.maxNewTokens ?? task.maxCompletionLength, seed: streamSeed(SEED, 'em', step, 'sample') }),
  });
  const tau = emEntropyTemperature(c);
  const trainer = new Trainer({
    id: 'em',
    model: policy.model,
    workers: policy.workers ?? null,
    sampler: new PhaseSampler(sampler, phases),
    terms: [new EmLossTerm({ temperature: tau, pooling: c.pooling, lastFraction: c.lastFraction, coef: { type: 'fixed', value: 1 } }, 'em')],
    parameters: modelParameters(policy.model),
    optimizer: { lr: c.lr, weightDecay: c.weightDecay, gradClip: c.gradClip, schedule: withTotalSteps(c.schedule, c.steps) },
    totalSteps: c.steps,
    temperature: tau,
  });
  return { trainer, phases };
}

/** The grpo stage's own trainer (grpoTrainer), its policy term's prepare timed. */
function grpoTimedTrainer(policy: Policy, task: Task, clock: 'cpu' | 'wall'): TimedTrainer {
  const registry = createRegistry();
  const config = grpoConfigSchema(registry).parse(GRPO);
  const trainer = grpoTrainer({ policy, task, config, seed: SEED, registry, id: 'grpo' });
  const phases = new StepPhases(clock);
  timePrepare(trainer.terms[0]!, phases);
  return { trainer, phases };
}

async function timeSteps(name: StepTiming['name'], timed: TimedTrainer, reps: number, threads: number): Promise<StepTiming> {
  const { trainer, phases } = timed;
  const rows: Omit<StepTiming, 'name' | 'impl' | 'threads'>[] = [];
  try {
    // Warm-up: weights packed, SIMD GEMM modules generated for the common shapes.
    for (let i = 0; i < WARMUP_STEPS; i++) await trainer.step(i);
    for (let i = WARMUP_STEPS; i < WARMUP_STEPS + reps; i++) {
      phases.begin();
      const w0 = performance.now();
      const res = await trainer.step(i);
      const ms = phases.elapsedMs();
      const wallMs = performance.now() - w0;
      const generatedTokens = res.metrics['perf/generated_tokens'] ?? NaN;
      rows.push({ ms, wallMs, rolloutMs: phases.rolloutMs, scoreMs: phases.scoreMs, updateMs: ms - phases.rolloutMs - phases.scoreMs, rows: phases.rows, seqLen: phases.seqLen, generatedTokens });
    }
  } finally {
    trainer.dispose();
  }
  const med = (k: keyof (typeof rows)[number]): number => median(rows.map((r) => r[k] ?? NaN));
  return { name, impl: 'emrl', threads, ms: med('ms'), wallMs: med('wallMs'), rolloutMs: med('rolloutMs'), scoreMs: med('scoreMs'), updateMs: med('updateMs'), rows: rows.at(-1)!.rows, seqLen: med('seqLen'), generatedTokens: med('generatedTokens') };
}

async function loadPolicy(): Promise<{ policy: Policy; model: CausalLM }> {
  const { model, tokenizer } = await loadPretrained(MODEL_DIR);
  return { policy: { model, tokenizer, name: 'modchain-byte' }, model };
}

/**
 * emrl's EM and GRPO steps (each on a fresh copy of the embedded model), on one thread (CPU time)
 * and, for each count in `threads` above 1, with the run's worker threads (lm ModelWorkers, as
 * `--threads n` starts them; wall time, since the workers' CPU is not the step's latency).
 */
export async function benchEmrlSteps(reps: number, threads: number[] = [1]): Promise<StepTiming[]> {
  const task = createTask({ type: 'modchain' });
  const out: StepTiming[] = [];
  for (const n of threads) {
    const workers = n > 1 ? await ModelWorkers.start(n - 1, currentBackend()!.name) : null;
    try {
      for (const [name, build] of [
        ['em-step', emTrainer],
        ['grpo-step', grpoTimedTrainer],
      ] as const) {
        const { policy, model } = await loadPolicy();
        if (workers) policy.workers = workers;
        try {
          out.push(await timeSteps(name, build(policy, task, n > 1 ? 'wall' : 'cpu'), reps, n));
        } finally {
          model.dispose();
        }
      }
    } finally {
      await workers?.close();
    }
  }
  return out;
}

interface TorchStepRow {
  threads: number;
  name: StepTiming['name'];
  ms: number;
  rollout_ms: number;
  score_ms: number;
  update_ms: number;
  rows: number;
  seq_len: number;
  generated_tokens: number;
}

/** Largest |emrl - PyTorch| token log-prob on the check rows; above this the reference is not the same model. */
export const LOGPROB_TOLERANCE = 1e-3;

/**
 * A consistency check of the PyTorch model: 8 sampled rows and emrl's log-probs of their
 * completion tokens (row-major, loss-mask positions only); torch_step_bench.py recomputes them.
 */
async function logprobCheck(policy: Policy, task: Task): Promise<{ prompts: number[][]; completions: number[][]; logprobs: number[] }> {
  const prompts = task.split('train').slice(0, 8).map((ex) => encodePrompt(task, ex, policy.tokenizer));
  const padId = policy.tokenizer.padTokenId;
  const out = await generate(policy.model, prompts, { maxNewTokens: task.maxCompletionLength, temperature: 1, seed: 1, stopTokenIds: stopTokensFor(policy, task), padTokenId: padId });
  const packed = packBatchArrays(prompts, out.tokens, padId);
  const lp = tf.tidy(() => {
    const b = toPackedBatch(packed);
    return tokenLogProbsAndEntropy(policy.model.forward(b.inputIds, { attentionMask: b.attentionMask }), b.targets, 1).logProbs; // [B, T]
  });
  const values = lp.dataSync();
  lp.dispose();
  return { prompts, completions: out.tokens, logprobs: Array.from(values).filter((_, i) => packed.lossMask[i] === 1) };
}

/** What torch_step_bench.py needs: the model directory, encoded prompts, decode table, stop ids, settings. */
export async function torchStepSpec(reps: number): Promise<Record<string, unknown>> {
  const task = createTask({ type: 'modchain' });
  const { policy, model } = await loadPolicy();
  try {
    const em = EmStageConfigSchema.parse(EM);
    const grpo = grpoConfigSchema(createRegistry()).parse(GRPO);
    const tok = policy.tokenizer;
    return {
      model_dir: MODEL_DIR,
      seed: SEED,
      reps,
      warmup: WARMUP_STEPS,
      pad_id: tok.padTokenId,
      check: await logprobCheck(policy, task),
      stop_ids: stopTokensFor(policy, task),
      decode: Array.from({ length: model.config.vocabSize }, (_, i) => tok.decode([i])),
      pool: task.split('train').map((ex) => ({ ids: encodePrompt(task, ex, tok), answer: ex.answer })),
      em: {
        prompt: encodePrompt(task, task.split('train')[0]!, tok),
        rollouts: em.rollouts,
        max_new_tokens: em.maxNewTokens ?? task.maxCompletionLength,
        sample_temperature: em.sampleTemperature,
        tau: emEntropyTemperature(em),
        lr: em.lr,
        weight_decay: em.weightDecay,
        grad_clip: em.gradClip,
      },
      grpo: {
        prompts_per_step: grpo.promptsPerStep,
        group_size: grpo.groupSize,
        max_new_tokens: grpo.maxCompletionLength ?? task.maxCompletionLength,
        temperature: grpo.temperature,
        iterations: grpo.numIterations,
        beta: grpo.beta,
        eps_low: grpo.epsLow,
        eps_high: grpo.epsHigh ?? grpo.epsLow,
        lr: grpo.lr,
        weight_decay: grpo.weightDecay,
        grad_clip: grpo.gradClip,
      },
    };
  } finally {
    model.dispose();
  }
}

/** The same steps in PyTorch, once per thread count. */
export async function benchTorchSteps(python: string, threads: number[], reps: number): Promise<{ rows: StepTiming[]; maxLogprobDiff: number }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'emrl-step-bench-'));
  try {
    const specPath = path.join(dir, 'spec.json');
    writeFileSync(specPath, JSON.stringify(await torchStepSpec(reps)));
    let maxLogprobDiff = 0;
    const rows = threads.flatMap((t) => {
      const out = runTorchScript<{ check_max_abs_diff: number; results: TorchStepRow[] }>(python, 'torch_step_bench.py', ['--spec', specPath], t);
      if (!(out.check_max_abs_diff <= LOGPROB_TOLERANCE)) {
        throw new Error(`tools/bench/torch_step_bench.py: its token log-probs differ from emrl's by ${out.check_max_abs_diff} (> ${LOGPROB_TOLERANCE}); the PyTorch model does not match the embedded model`);
      }
      maxLogprobDiff = Math.max(maxLogprobDiff, out.check_max_abs_diff);
      return out.results.map((r) => ({
        name: r.name,
        impl: 'pytorch' as const,
        threads: r.threads,
        ms: r.ms,
        rolloutMs: r.rollout_ms,
        scoreMs: r.score_ms,
        updateMs: r.update_ms,
        rows: r.rows,
        seqLen: r.seq_len,
        generatedTokens: r.generated_tokens,
      }));
    });
    return { rows, maxLogprobDiff };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
