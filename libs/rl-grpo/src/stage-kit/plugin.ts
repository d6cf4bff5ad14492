import type * as tf from '@tensorflow/tfjs-core';

/**
 * Everything a loss-term plugin sees, computed by the trainer from ONE forward pass.
 * Alignment: logits[:, t] predicts targets[:, t]; lossMask[:, t] = 1 on response tokens.
 */
export interface LossTermInput {
  /** Raw logits (logits adapter applied, temperature NOT applied) [B, T, V]. */
  logits: tf.Tensor3D;
  /** Log-probs of the targets at the training temperature [B, T]. */
  logprobs: tf.Tensor2D;
  /** Targets (next tokens) [B, T] int32. */
  targets: tf.Tensor2D;
  /** 1 where targets[b, t] is a response (completion) token, else 0 [B, T] float32. */
  lossMask: tf.Tensor2D;
  /** The trainer's sampling / log-prob temperature. */
  temperature: number;
  /** Current optimizer step (0-based) and the planned total. */
  step: number;
  totalSteps: number;
  /** Per-sequence advantages [B] when the host is an RL trainer (absent otherwise). */
  advantages?: tf.Tensor1D;
}

export interface LossTermOutput {
  /** The unweighted term (scalar, differentiable). The trainer adds `coef * loss` to its loss. */
  loss: tf.Scalar;
  /** Coefficient for this step (fixed, scheduled or adaptive). 0 switches the term off. */
  coef: number;
  /** Extra scalar metrics, reported as `<plugin name>/<key>`. Numbers only (read after the step). */
  metrics?: Record<string, tf.Scalar | number>;
}

/**
 * A named differentiable term added to a trainer's loss (entropy bonus, EM regularizer, ...).
 * `compute` is called inside the trainer's gradient closure; `afterStep` (optional) receives the
 * step's finished metrics so adaptive coefficients can update their state.
 */
export interface LossTermPlugin {
  readonly name: string;
  compute(input: LossTermInput): LossTermOutput;
  afterStep?(metrics: Readonly<Record<string, number>>, step: number): void;
  /** Plain-JSON state for checkpoints / resume (adaptive coefficients). */
  state?(): Record<string, number>;
  loadState?(state: Record<string, number>): void;
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

export interface TrainerHooks {
  beforeStep?(info: Omit<StepInfo, 'metrics'>): HookResult | Promise<HookResult>;
  afterStep?(info: StepInfo): HookResult | Promise<HookResult>;
  beforeEval?(info: Omit<StepInfo, 'metrics'>): void | Promise<void>;
  afterEval?(info: StepInfo): HookResult | Promise<HookResult>;
  /**
   * Plain-JSON state (e.g. an early stopper's history) saved with each stage checkpoint, so that a
   * resumed run decides as an uninterrupted one would; `loadState` receives it on resume.
   */
  state?(): unknown;
  loadState?(state: unknown): void;
}
