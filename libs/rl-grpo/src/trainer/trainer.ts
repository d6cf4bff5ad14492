import * as tf from '@tensorflow/tfjs-core';
import {
  AdamW,
  clipGlobalNorm,
  deriveSeed,
  logitsTokenStats,
  lrAt,
  modelTokenStats,
  replicaUnsupported,
  replicaVariables,
  toPackedBatch,
  type CausalLM,
  type ForwardOptions,
  type LrSchedule,
  type ModelWorkers,
  type PackedArrays,
  type SplitGradPass,
  type TokenStatsAt,
} from '@emrl/lm';
import { logProbsOnThisThread, type HookResult, type LossTermInput, type LossTermPlugin, type TrainerHooks } from '../stage-kit/plugin';
import { assertFinite, countNonFinite } from './finite-guard';
import { microBatchWeight, releaseMicroBatches, splitMicroBatches, type MicroBatch } from './micro-batches';
import type { TrainableParameters } from './parameters';
import type { Sampler, TrainBatch } from './sampler';

/** The optimizer of a trainer: lm's AdamW (torch semantics), global-norm clipping, an lr schedule. */
export interface TrainerOptimizerConfig {
  lr: number;
  weightDecay: number;
  /** Max global grad norm; 0 turns clipping off (the norm is still reported as grad_norm). */
  gradClip: number;
  schedule?: LrSchedule;
}

export interface TrainerOptions {
  /** Stage id: names the trainer in messages and hooks. */
  id: string;
  /** The model whose forward pass the terms see (frozen when `parameters` is an adapter). */
  model: CausalLM;
  sampler: Sampler;
  /** The loss: sum over terms of coef * loss. Names must be unique. */
  terms: LossTermPlugin[];
  /** What trains (explicit: the model's weights or an adapter's variables). */
  parameters: TrainableParameters;
  optimizer: TrainerOptimizerConfig;
  totalSteps: number;
  /** Temperature of the log-probs and entropies the terms see (GRPO: the sampling temperature). */
  temperature: number;
  /** Optimizer updates per batch (GRPO's mu); default 1. */
  iterations?: number;
  /** Micro-batches per step (gradient accumulation); default 1. */
  microBatches?: number;
  /**
   * Bytes of one chunk of float32 logits when per-token statistics are computed in chunks of
   * positions (lm's modelTokenStats; default 32 MiB). Micro-batches whose whole logits fit in a
   * quarter of it take the plain full-logits path.
   */
  logitsBudgetBytes?: number;
  hooks?: TrainerHooks;
  /**
   * Seed of the train-mode forward (LoRA dropout masks, drawn from it, the step and the iteration);
   * default 0. The loss forward runs in train mode, every other forward (sampling, old and
   * reference log-probs) in eval mode.
   */
  seed?: number;
  /**
   * Worker threads holding replicas of `model` (the run's `threads` - 1): each micro-batch's rows,
   * the terms' scoring passes and the sampler's rollouts are shared among them and this thread.
   * Absent = one thread. Not used for adapter parameters on frozen logits.
   */
  workers?: ModelWorkers | null;
}

export interface StepResult {
  metrics: Record<string, number>;
  /** Set when a hook asked to stop after this step. */
  stop?: { reason: string };
  /** True when a beforeStep hook stopped the run before this step did anything. */
  skipped?: boolean;
}

/** Weighted sums of per-micro-batch scalars; read once after each gradient pass. */
class MetricSums {
  readonly sums: Record<string, number> = {};
  private pending: [string, tf.Tensor, number][] = [];

  add(name: string, v: tf.Scalar | number, weight: number): void {
    if (typeof v === 'number') this.sums[name] = (this.sums[name] ?? 0) + v * weight;
    else this.pending.push([name, tf.keep(v), weight]);
  }

  /** Reads the kept tensors (one sync per scalar) and disposes them. */
  flush(): void {
    for (const [name, t, w] of this.pending) this.sums[name] = (this.sums[name] ?? 0) + t.dataSync()[0]! * w;
    new Set(this.pending.map(([, t]) => t)).forEach((t) => t.dispose());
    this.pending = [];
  }
}

/**
 * The one trainer of emrl. A step reads collect -> score -> backward -> apply:
 * - collect: the sampler's rows for this step (GRPO groups, EM rollouts, or a frozen batch);
 * - score: split into micro-batches, and let each term prepare its constants (old and reference
 *   log-probs for the GRPO policy term);
 * - backward: one forward pass per micro-batch, the loss = sum of coef * term, gradients
 *   w.r.t. exactly `parameters`, each term weighted by its micro-batch share;
 * - apply: global-norm clipping and one AdamW update, `iterations` times on the same rows (mu).
 * GRPO, the EM warm start and confidence compression are three configurations of it.
 */
export class Trainer {
  readonly id: string;
  readonly terms: LossTermPlugin[];
  readonly parameters: TrainableParameters;
  private readonly opts: TrainerOptions;
  private readonly optimizer: AdamW;
  private readonly hooks: TrainerHooks;
  /** The optimizer update within the step (GRPO's mu loop), for the train-mode forward. */
  private iteration = 0;
  /** Most threads a gradient pass of this step ran on (perf/threads). */
  private passThreads = 1;

  constructor(opts: TrainerOptions) {
    this.opts = opts;
    this.id = opts.id;
    this.terms = opts.terms;
    this.parameters = opts.parameters;
    this.hooks = opts.hooks ?? {};
    const names = new Set<string>();
    for (const t of opts.terms) {
      if (names.has(t.name)) throw new Error(`stage "${opts.id}": two loss terms are named "${t.name}"; term names must be unique`);
      names.add(t.name);
    }
    if (opts.terms.length === 0) throw new Error(`stage "${opts.id}": a trainer needs at least one loss term`);
    // Clipping happens here (so grad_norm is logged before clipping); the optimizer only steps.
    // Moments are keyed by stable names so checkpoints resume in a new process.
    this.optimizer = new AdamW(
      { lr: opts.optimizer.lr, weightDecay: opts.optimizer.weightDecay, gradClip: 0 },
      { variables: opts.parameters.named() },
    );
  }

  private lrAt(step: number): number {
    const o = this.opts.optimizer;
    return lrAt(o.schedule ?? { type: 'constant' }, o.lr, step);
  }

  /** One training step (or `iterations` optimizer updates on the same rows). */
  async step(step: number): Promise<StepResult> {
    const o = this.opts;
    const hookBefore = await this.hooks.beforeStep?.({ stage: this.id, step, totalSteps: o.totalSteps });
    if (hookBefore && hookBefore.stop) return { metrics: {}, stop: { reason: hookBefore.reason }, skipped: true };
    const t0 = performance.now();
    this.passThreads = 1;
    const batch = await o.sampler.collect(step);
    const tGen = performance.now();
    const parts = await this.score(batch, step);
    const sums = new MetricSums();
    const lr = this.lrAt(step);
    const iterations = o.iterations ?? 1;
    let gradNorm = 0;
    try {
      for (let iter = 0; iter < iterations; iter++) {
        this.iteration = iter;
        const grads = await this.backward(batch, parts, step, sums);
        gradNorm = this.apply(grads, lr, step);
      }
    } finally {
      for (const t of this.terms) t.release?.();
      releaseMicroBatches(parts, batch);
    }
    const metrics: Record<string, number> = { ...batch.metrics };
    for (const [k, v] of Object.entries(sums.sums)) metrics[k] = v / iterations;
    metrics['grad_norm'] = gradNorm;
    metrics['learning_rate'] = lr;
    const tEnd = performance.now();
    const { batchSize, seqLen } = batch.packed;
    metrics['perf/step_time'] = (tEnd - t0) / 1000;
    metrics['perf/generation_time'] = (tGen - t0) / 1000;
    metrics['perf/tokens_per_sec'] = (batchSize * seqLen * (1 + iterations)) / ((tEnd - t0) / 1000);
    metrics['perf/generated_tokens'] = batch.generatedTokens;
    metrics['perf/threads'] = this.passThreads;
    for (const t of this.terms) t.afterStep?.(metrics, step);
    const hook: HookResult = await this.hooks.afterStep?.({ stage: this.id, step, totalSteps: o.totalSteps, metrics });
    return hook && hook.stop ? { metrics, stop: { reason: hook.reason } } : { metrics };
  }

  /** Micro-batches of the step, and each term's per-step constants. */
  private async score(batch: TrainBatch, step: number): Promise<MicroBatch[]> {
    if (batch.frozenLogits && !this.parameters.applyToFrozen) {
      throw new Error(`stage "${this.id}": the sampler gives frozen logits, which only adapter parameters can train on (this trainer trains ${this.parameters.description})`);
    }
    const parts = splitMicroBatches(batch, this.opts.microBatches ?? 1);
    const o = this.opts;
    const prep = {
      microBatches: parts.map((p) => p.arrays),
      step,
      temperature: o.temperature,
      logitsBudgetBytes: o.logitsBudgetBytes,
      logProbsOf: (model: CausalLM, a: PackedArrays, forward: ForwardOptions = {}) => this.logProbsOf(model, a, forward),
    };
    for (const t of this.terms) await t.prepare?.(prep);
    return parts;
  }

  /**
   * No-grad log-probs of packed rows at the trainer's temperature [B, T] (a term's old or reference
   * log-probs), the rows shared among the worker threads when the trainer has them.
   */
  private async logProbsOf(model: CausalLM, a: PackedArrays, forward: ForwardOptions): Promise<tf.Tensor2D> {
    const o = this.opts;
    const w = o.workers;
    if (w && a.batchSize > 1 && !forward.lora && !forward.training && !forward.cache && replicaUnsupported(model) === null) {
      const s = await w.tokenStats(model, a, o.temperature, { forward: forward.disableLora ? { disableLora: true } : {}, logitsBudgetBytes: o.logitsBudgetBytes });
      return tf.tensor2d(s.logProbs, [a.batchSize, a.seqLen]);
    }
    return logProbsOnThisThread(model, a, o.temperature, forward, o.logitsBudgetBytes); // [B, T]
  }

  /** Starts the workers' share of micro-batch `part`'s gradient pass, or null for one thread. */
  private splitPass(part: MicroBatch, step: number): SplitGradPass | null {
    const o = this.opts;
    if (!o.workers || part.frozenLogits || this.parameters.kind !== 'model' || replicaUnsupported(o.model) !== null) return null;
    const pass = o.workers.startGradPass(o.model, part.arrays, {
      temperature: o.temperature,
      training: { seed: deriveSeed(o.seed ?? 0, step, this.iteration), rowOffset: part.start },
      logitsBudgetBytes: o.logitsBudgetBytes,
    });
    if (pass) this.passThreads = Math.max(this.passThreads, pass.threads);
    return pass;
  }

  /** Gradients of the full-batch loss, accumulated over micro-batches (each term by its share). */
  private async backward(batch: TrainBatch, parts: MicroBatch[], step: number, sums: MetricSums): Promise<tf.NamedTensorMap> {
    const vars = this.parameters.variables();
    let acc: tf.NamedTensorMap | null = null;
    for (let m = 0; m < parts.length; m++) {
      const part = parts[m]!;
      const pass = this.splitPass(part, step);
      let result: { value: tf.Scalar; grads: tf.NamedTensorMap };
      try {
        result = tf.variableGrads(() => this.loss(batch, part, m, step, sums, pass), pass ? [...vars, pass.anchor] : vars);
        pass?.finish();
      } catch (e) {
        if (pass) {
          pass.abort();
          await pass.gradients().catch(() => undefined);
        }
        throw e;
      }
      const { value } = result;
      let grads = result.grads;
      if (pass) grads = await this.addWorkerGradients(pass, grads);
      const loss = value.dataSync()[0]!;
      sums.add('loss', loss, 1);
      sums.flush(); // before value.dispose(): a term's kept metric may be the very same tensor
      value.dispose();
      if (!Number.isFinite(loss)) {
        for (const g of Object.values(grads)) g.dispose();
        for (const g of Object.values(acc ?? {})) g.dispose();
        assertFinite(this.id, step, 'the loss', loss);
      }
      if (!acc) acc = grads;
      else {
        const prev: tf.NamedTensorMap = acc;
        acc = {};
        for (const k of Object.keys(grads)) {
          acc[k] = tf.add(prev[k]!, grads[k]!);
          prev[k]!.dispose();
          grads[k]!.dispose();
        }
      }
    }
    return acc!;
  }

  /**
   * This thread's gradients plus the workers' (in worker order, so a thread count always sums in
   * the same order); the anchor's gradient is dropped.
   */
  private async addWorkerGradients(pass: SplitGradPass, grads: tf.NamedTensorMap): Promise<tf.NamedTensorMap> {
    grads[pass.anchor.name]?.dispose();
    const theirs = await pass.gradients();
    const keyOf = new Map([...replicaVariables(this.opts.model)].map(([k, v]) => [v, k]));
    const out: tf.NamedTensorMap = {};
    for (const v of this.parameters.variables()) {
      const key = keyOf.get(v);
      if (!key) throw new Error(`stage "${this.id}": trained variable ${v.name} is not one of the model's (split gradient pass)`);
      const own = grads[v.name]!;
      out[v.name] = tf.tidy(() => theirs.reduce<tf.Tensor>((g, t) => tf.add(g, tf.tensor(t.get(key)!, v.shape, 'float32')), own));
      own.dispose();
    }
    return out;
  }

  /** The weighted loss of one micro-batch (inside the gradient closure). */
  private loss(batch: TrainBatch, part: MicroBatch, m: number, step: number, sums: MetricSums, pass: SplitGradPass | null): tf.Scalar {
    const o = this.opts;
    const b = toPackedBatch(part.arrays);
    // Per-token stats from the model's train-mode forward pass (LoRA dropout masks from the seed, step and
    // iteration): whole logits, or chunks of positions at a large vocabulary. With worker threads this
    // thread forwards only its share of the rows and the workers' stats join it (SplitGradPass).
    const training = { seed: deriveSeed(o.seed ?? 0, step, this.iteration), rowOffset: part.start + (pass?.ownStart ?? 0) };
    const stats = part.frozenLogits
      ? logitsTokenStats(this.parameters.applyToFrozen!(part.frozenLogits), b.targets)
      : modelTokenStats(o.model, pass ? toPackedBatch(pass.own) : b, { logitsBudgetBytes: o.logitsBudgetBytes, forward: { training } });
    const joined = new Map<number, TokenStatsAt>();
    const statsAt = (tau: number): TokenStatsAt => {
      if (!pass) return stats.at(tau);
      let s = joined.get(tau);
      if (!s) {
        const mine = stats.at(tau);
        const theirs = pass.workerStats(tau);
        s = {
          logProbs: tf.concat([mine.logProbs, ...theirs.map((t) => t.logProbs)], 0) as tf.Tensor2D, // [b, T]
          entropy: tf.concat([mine.entropy, ...theirs.map((t) => t.entropy)], 0) as tf.Tensor2D,
        };
        joined.set(tau, s);
      }
      return s;
    };
    const id = this.id;
    const input: LossTermInput = {
      get logits() {
        if (pass) throw new Error(`stage "${id}": a loss term read the whole logits, which a gradient pass shared among worker threads does not have; use tokenStats(tau) in the term, or run with threads: 1`);
        return stats.logits; // [b, T, V]
      },
      tokenStats: (tau = o.temperature) => statsAt(tau), // [b, T] each
      get logprobs() {
        return statsAt(o.temperature).logProbs;
      },
      get entropy() {
        return statsAt(o.temperature).entropy;
      },
      targets: b.targets,
      lossMask: b.lossMask,
      temperature: o.temperature,
      step,
      totalSteps: o.totalSteps,
      advantages: batch.advantages ? tf.tensor1d(batch.advantages.subarray(part.start, part.end)) : undefined,
      microBatch: m,
    };
    let total: tf.Scalar | null = null;
    for (const term of this.terms) {
      const out = term.compute(input);
      const weight = microBatchWeight(part, out.normalizer ?? 'tokens');
      const scale = out.coef * weight;
      if (out.coef !== 0) {
        const contribution = scale === 1 ? out.loss : (tf.mul(out.loss, scale) as tf.Scalar);
        total = total ? (tf.add(total, contribution) as tf.Scalar) : contribution;
      }
      const prefix = term.metricPrefix ?? `${term.name}/`;
      if (prefix !== '') {
        sums.add(`${prefix}loss`, out.loss, weight);
        sums.add(`${prefix}coef`, out.coef, weight);
      }
      for (const [k, v] of Object.entries(out.metrics ?? {})) sums.add(`${prefix}${k}`, v, weight);
    }
    return total ?? tf.scalar(0);
  }

  /**
   * Clips, applies one optimizer update and frees the gradients; returns the pre-clip norm. A
   * non-finite norm stops before the update, a non-finite updated weight right after it (the
   * stage then fails before its checkpoint: nothing non-finite is written).
   */
  private apply(grads: tf.NamedTensorMap, lr: number, step: number): number {
    const clip = this.opts.optimizer.gradClip;
    const clipped = clipGlobalNorm(grads, clip > 0 ? clip : Infinity);
    try {
      assertFinite(this.id, step, 'the gradient norm', clipped.norm);
      this.optimizer.applyGradients(clipped.grads, lr);
    } finally {
      for (const g of Object.values(grads)) g.dispose();
      if (clipped.grads !== grads) for (const g of Object.values(clipped.grads)) g.dispose();
    }
    const bad = countNonFinite(this.parameters.variables());
    if (bad > 0) assertFinite(this.id, step, `the updated ${this.parameters.description} (${bad} non-finite entries)`, Number.NaN);
    return clipped.norm;
  }

  /** Optimizer moments for checkpoints (caller disposes). */
  optimizerState(): tf.NamedTensorMap {
    return this.optimizer.state();
  }

  loadOptimizerState(state: tf.NamedTensorMap): void {
    this.optimizer.loadState(state);
  }

  termStates(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const t of this.terms) if (t.state) out[t.name] = t.state();
    return out;
  }

  loadTermStates(states: Record<string, Record<string, number>>): void {
    for (const t of this.terms) if (states[t.name] && t.loadState) t.loadState(states[t.name]!);
  }

  dispose(): void {
    this.optimizer.dispose();
    for (const t of this.terms) t.dispose?.();
    this.opts.sampler.dispose?.();
  }
}
