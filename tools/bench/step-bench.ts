import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { generate, loadPretrained, packBatchArrays, tokenLogProbsAndEntropy, toPackedBatch, withTotalSteps, type CausalLM } from '@emrl/lm';
import {
  createRegistry,
  createTask,
  encodePrompt,
  grpoConfigSchema,
  GroupSampler,
  GrpoPolicyTerm,
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
}

/** CPU time of a sampler's collect calls. */
class TimedSampler implements Sampler {
  readonly description: string;
  ms = 0;
  last: TrainBatch | null = null;
  constructor(private readonly inner: Sampler) {
    this.description = inner.description;
  }
  async collect(step: number): Promise<TrainBatch> {
    const t0 = process.cpuUsage();
    this.last = await this.inner.collect(step);
    this.ms += cpuMs(t0);
    return this.last;
  }
  dispose(): void {
    this.inner.dispose?.();
  }
}

/** Adds the CPU time of `term.prepare` (old / reference log-probs) to `acc.ms`. */
function timePrepare(term: LossTermPlugin, acc: { ms: number }): void {
  const prepare = term.prepare?.bind(term);
  if (!prepare) return;
  term.prepare = async (input) => {
    const t0 = process.cpuUsage();
    await prepare(input);
    acc.ms += cpuMs(t0);
  };
}

function emTrainer(policy: Policy, task: Task): { trainer: Trainer; sampler: TimedSampler; score: { ms: number } } {
  const c = EmStageConfigSchema.parse(EM);
  // The stage picks its prompt with `select`; the step's cost does not depend on which prompt.
  const prompt = task.split('train')[0]!;
  const sampler = new TimedSampler(
    new PromptSampler({
      policy,
      task,
      prompts: [prompt],
      rollouts: c.rollouts,
      sampling: (step) => ({ temperature: c.sampleTemperature, topP: c.topP, topK: 0, maxNewTokens: c.maxNewTokens ?? task.maxCompletionLength, seed: streamSeed(SEED, 'em', step, 'sample') }),
    }),
  );
  const tau = emEntropyTemperature(c);
  const term = new EmLossTerm({ temperature: tau, pooling: c.pooling, lastFraction: c.lastFraction, coef: { type: 'fixed', value: 1 } }, 'em');
  const score = { ms: 0 };
  timePrepare(term, score);
  const trainer = new Trainer({
    id: 'em',
    model: policy.model,
    sampler,
    terms: [term],
    parameters: modelParameters(policy.model),
    optimizer: { lr: c.lr, weightDecay: c.weightDecay, gradClip: c.gradClip, schedule: withTotalSteps(c.schedule, c.steps) },
    totalSteps: c.steps,
    temperature: tau,
  });
  return { trainer, sampler, score };
}

function grpoTrainerParts(policy: Policy, task: Task): { trainer: Trainer; sampler: TimedSampler; score: { ms: number } } {
  const registry = createRegistry();
  const c = grpoConfigSchema(registry).parse(GRPO);
  const maxNewTokens = c.maxCompletionLength ?? task.maxCompletionLength;
  // As grpoTrainer (libs/rl-grpo/src/grpo/grpo-stage.ts) builds it, with the sampler and term timed.
  const sampler = new TimedSampler(
    new GroupSampler({
      policy,
      task,
      id: 'grpo',
      seed: SEED,
      split: c.split,
      promptsPerStep: c.promptsPerStep,
      groupSize: c.groupSize,
      temperature: c.temperature,
      topP: c.topP,
      topK: c.topK,
      maxNewTokens,
      rewards: c.rewards.map((r) => ({ ...r, fn: registry.reward(r.name) })),
      scaleRewards: c.scaleRewards,
      dynamicSampling: c.dynamicSampling,
      maxRefills: c.maxRefills ?? 3,
      maskTruncatedCompletions: c.maskTruncatedCompletions,
      totalSteps: c.steps,
    }),
  );
  const term = new GrpoPolicyTerm({
    model: policy.model,
    epsLow: c.epsLow,
    epsHigh: c.epsHigh ?? c.epsLow,
    beta: c.beta,
    importanceLevel: c.importanceSampling,
    lossType: c.lossType,
    maxCompletionLength: maxNewTokens,
    iterations: c.numIterations,
  });
  const score = { ms: 0 };
  timePrepare(term, score);
  const trainer = new Trainer({
    id: 'grpo',
    model: policy.model,
    sampler,
    terms: [term],
    parameters: modelParameters(policy.model),
    optimizer: { lr: c.lr, weightDecay: c.weightDecay, gradClip: c.gradClip, schedule: withTotalSteps(c.schedule, c.steps) },
    totalSteps: c.steps,
    temperature: c.temperature,
    iterations: c.numIterations,
    microBatches: c.gradientAccumulationSteps,
  });
  return { trainer, sampler, score };
}

async function timeSteps(name: StepTiming['name'], parts: { trainer: Trainer; sampler: TimedSampler; score: { ms: number } }, reps: number): Promise<StepTiming> {
  const { trainer, sampler, score } = parts;
  const rows: Omit<StepTiming, 'name' | 'impl' | 'threads'>[] = [];
  try {
    // Warm-up: weights packed, SIMD GEMM modules generated for the common shapes.
    for (let i = 0; i < WARMUP_STEPS; i++) await trainer.step(i);
    for (let i = WARMUP_STEPS; i < WARMUP_STEPS + reps; i++) {
      sampler.ms = 0;
      score.ms = 0;
      const t0 = process.cpuUsage();
      await trainer.step(i);
      const ms = cpuMs(t0);
      const b = sampler.last!;
      rows.push({ ms, rolloutMs: sampler.ms, scoreMs: score.ms, updateMs: ms - sampler.ms - score.ms, rows: b.packed.batchSize, seqLen: b.packed.seqLen, generatedTokens: b.generatedTokens });
    }
  } finally {
    trainer.dispose();
  }
  const med = (k: keyof (typeof rows)[number]): number => median(rows.map((r) => r[k]));
  return { name, impl: 'emrl', threads: 1, ms: med('ms'), rolloutMs: med('rolloutMs'), scoreMs: med('scoreMs'), updateMs: med('updateMs'), rows: rows.at(-1)!.rows, seqLen: med('seqLen'), generatedTokens: med('generatedTokens') };
}

async function loadPolicy(): Promise<{ policy: Policy; model: CausalLM }> {
  const { model, tokenizer } = await loadPretrained(MODEL_DIR);
  return { policy: { model, tokenizer, name: 'modchain-byte' }, model };
}

/** emrl's EM and GRPO steps (each on a fresh copy of the embedded model). */
export async function benchEmrlSteps(reps: number): Promise<StepTiming[]> {
  const task = createTask({ type: 'modchain' });
  const out: StepTiming[] = [];
  for (const [name, build] of [
    ['em-step', emTrainer],
    ['grpo-step', grpoTrainerParts],
  ] as const) {
    const { policy, model } = await loadPolicy();
    try {
      out.push(await timeSteps(name, build(policy, task), reps));
    } finally {
      model.dispose();
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
