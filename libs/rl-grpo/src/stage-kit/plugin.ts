import * as tf from '@tensorflow/tfjs-core';
import { logitsTokenStats, modelTokenStats, toPackedBatch, type CausalLM, type ForwardOptions, type PackedArrays, type TokenStatsAt } from '@emrl/lm';

/**
 * Everything a loss term sees of one micro-batch, computed by the trainer from ONE forward pass.
 * Alignment: logits[:, t] predicts targets[:, t]; lossMask[:, t] = 1 on response tokens.
 *
 * Terms should ask `tokenStats(tau)` for per-token log-probs and entropies: at a large vocabulary
 * the trainer computes them in chunks of positions (lm's modelTokenStats) and the [B, T, V] logits
 * never exist unless a term reads `logits`.
 */
export interface LossTermInput {
  /**
   * Raw logits (logits adapter applied, temperature NOT applied) [B, T, V], computed on first
   * access. At a large vocabulary this is the whole tensor the chunked path avoids: read it only
   * when a term really needs every logit.
   */
  readonly logits: tf.Tensor3D;
  /** Log-probs of the targets and full-vocabulary entropies at `temperature` (default: the trainer's) [B, T] each, cached per temperature. */
  tokenStats(temperature?: number): TokenStatsAt;
  /** tokenStats().logProbs: log-probs of the targets at the trainer's temperature [B, T]. */
  readonly logprobs: tf.Tensor2D;
  /** tokenStats().entropy: full-vocabulary token entropy at the trainer's temperature [B, T]. */
  readonly entropy: tf.Tensor2D;
  /** Targets (next tokens) [B, T] int32. */
  targets: tf.Tensor2D;
  /** 1 where targets[b, t] is a response (completion) token, else 0 [B, T] float32. */
  lossMask: tf.Tensor2D;
  /** The trainer's sampling / log-prob temperature. */
  temperature: number;
  /** Current optimizer step (0-based) and the planned total. */
  step: number;
  totalSteps: number;
  /** Per-sequence advantages [B] when the sampler scored the rows (GRPO), else absent. */
  advantages?: tf.Tensor1D;
  /** Index of this micro-batch in the step (for constants a term prepared per micro-batch). */
  microBatch: number;
}

/**
 * A LossTermInput over logits already computed (tests, or a host that runs its own forward pass):
 * tokenStats, logprobs and entropy come from the logits (the plain path), on first use.
 */
export function lossTermInputFromLogits(fields: Omit<LossTermInput, 'logits' | 'tokenStats' | 'logprobs' | 'entropy'> & { logits: tf.Tensor3D }): LossTermInput {
  const stats = logitsTokenStats(fields.logits, fields.targets);
  return {
    ...fields,
    tokenStats: (tau = fields.temperature) => stats.at(tau),
    get logprobs() {
      return stats.at(fields.temperature).logProbs;
    },
    get entropy() {
      return stats.at(fields.temperature).entropy;
    },
  };
}

export interface LossTermOutput {
  /** The unweighted term (scalar, differentiable). The trainer adds `coef * loss` to its loss. */
  loss: tf.Scalar;
  /** Coefficient for this step (fixed, scheduled or adaptive). 0 switches the term off. */
  coef: number;
  /** Extra scalar metrics, reported as `<metric prefix><key>`. Numbers only (read after the step). */
  metrics?: Record<string, tf.Scalar | number>;
  /**
   * What the term averages over, which sets its share when a step is split into micro-batches:
   * 'tokens' (a token mean: weighted by the micro-batch's share of loss tokens, the default) or
   * 'sequences' (a mean over rows: weighted by its share of rows). Accumulation then equals one
   * big batch exactly.
   */
  normalizer?: 'tokens' | 'sequences';
}

/**
 * No-grad log-probs of the targets of packed rows at `temperature` under `model` on this thread
 * [B, T] (the caller disposes): what `LossTermPrepareInput.logProbsOf` does without worker threads.
 */
export function logProbsOnThisThread(model: CausalLM, rows: PackedArrays, temperature: number, forward: ForwardOptions = {}, logitsBudgetBytes?: number): tf.Tensor2D {
  return tf.tidy(() => modelTokenStats(model, toPackedBatch(rows), { forward, logitsBudgetBytes }).at(temperature).logProbs);
}

/** What a term may prepare once per step, before the gradient passes (e.g. reference log-probs). */
export interface LossTermPrepareInput {
  /** The step's micro-batches, in order: packed rows (no gradient is taken here). */
  microBatches: readonly PackedArrays[];
  step: number;
  temperature: number;
  /** The trainer's logits chunk budget in bytes (lm's modelTokenStats option); absent = lm's default. */
  logitsBudgetBytes?: number;
  /**
   * No-grad log-probs of the targets of packed rows at `temperature` under `model` (eval mode) [B, T]
   * (the caller disposes). The trainer shares the rows among its worker threads when it has them; a
   * host without it computes them on its own thread.
   */
  logProbsOf?(model: CausalLM, rows: PackedArrays, forward?: ForwardOptions): Promise<tf.Tensor2D>;
}

/**
 * A named differentiable term of a trainer's loss: the GRPO policy loss, the EM loss, an entropy
 * bonus, or one a user registers. `compute` is called inside the trainer's gradient closure;
 * `afterStep` (optional) receives the step's finished metrics so adaptive coefficients can update.
 */
export interface LossTermPlugin {
  /** Unique among a trainer's terms; by default also the metric prefix (`<name>/<key>`). */
  readonly name: string;
  /**
   * Prefix of this term's metrics; default `<name>/`. The empty string reports them bare (the GRPO
   * policy term keeps TRL's names: kl, clip_ratio/low_mean, ...) and skips `<prefix>loss`/`coef`.
   */
  readonly metricPrefix?: string;
  /** Per-step constants (no gradient), computed before the first gradient pass of the step. */
  prepare?(input: LossTermPrepareInput): void | Promise<void>;
  compute(input: LossTermInput): LossTermOutput;
  /** Drops what `prepare` made (after the step's last gradient pass). */
  release?(): void;
  afterStep?(metrics: Readonly<Record<string, number>>, step: number): void;
  /** Plain-JSON state for checkpoints / resume (adaptive coefficients). */
  state?(): Record<string, number>;
  loadState?(state: Record<string, number>): void;
  /** Frees what the term holds for the trainer's life (e.g. a frozen reference model). */
  dispose?(): void;
}

/** What a hook sees about a step. */
export interface StepInfo {
  stage: string;
  step: number;
  totalSteps: number;
  metrics: Readonly<Record<string, number>>;
}

/** A hook may ask the host loop to stop; the reason ends up in the stage's events. */
export type HookResult = void | { stop: true; reason: string };

/** What a hook sees after a step: the step's metrics, which it may add to (e.g. eval_accuracy). */
export interface AfterStepInfo extends StepInfo {
  metrics: Record<string, number>;
  /** Set when an earlier hook of the chain asked to stop after this step. */
  stopping?: string;
}

/**
 * Hooks of a training stage (early stopping, eval-every, logging). `afterStep` runs after the
 * optimizer update, in chain order; a hook may add metrics to the step and ask to stop.
 */
export interface TrainerHooks {
  /** Before the first step of a fresh run (not on resume): step-0 measurements; returns log lines. */
  onStart?(info: Omit<StepInfo, 'metrics' | 'step'>): Promise<string[] | void> | string[] | void;
  beforeStep?(info: Omit<StepInfo, 'metrics'>): HookResult | Promise<HookResult>;
  afterStep?(info: AfterStepInfo): HookResult | Promise<HookResult>;
  beforeEval?(info: Omit<StepInfo, 'metrics'>): void | Promise<void>;
  afterEval?(info: StepInfo): HookResult | Promise<HookResult>;
  /**
   * Plain-JSON state (e.g. an early stopper's history) saved with each stage checkpoint, so that a
   * resumed run decides as an uninterrupted one would; `loadState` receives it on resume and may
   * say the stage had already stopped.
   */
  state?(): unknown;
  loadState?(state: unknown): HookResult | Promise<HookResult>;
  /** Adds to the stage's summary and returns a JSON fragment for the stage's result. */
  finish?(summary: Record<string, number>, stopped?: { step: number; reason: string }): Record<string, unknown> | void;
  /** Frees what the hooks hold (weight snapshots, ...). */
  dispose?(): void;
}
