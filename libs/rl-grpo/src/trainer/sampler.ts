import type * as tf from '@tensorflow/tfjs-core';
import type { PackedArrays } from '@emrl/lm';

/** What a sampler hands the trainer for one step. */
export interface TrainBatch {
  /** Prompt + completion rows, right-padded; lossMask marks the tokens the loss terms see. */
  packed: PackedArrays;
  /**
   * Rows come in groups of this many consecutive rows that a micro-batch never splits (GRPO's
   * G completions of one prompt); 1 when rows are independent.
   */
  groupSize: number;
  /** Per-row advantages [B] when the sampler scored the rows (GRPO). */
  advantages?: Float32Array;
  /**
   * Raw logits of a frozen model for these rows [B, T, V], computed once (compression): the trainer
   * applies the trained adapter to them instead of running the model. The sampler owns them.
   */
  frozenLogits?: tf.Tensor3D;
  /** The sampler's metrics for this step (rewards, lengths, refills, ...). */
  metrics: Record<string, number>;
  /** Tokens generated while collecting (0 for a frozen batch). */
  generatedTokens: number;
}

/**
 * Where a trainer's rows come from: GRPO groups from a task split, rollouts of fixed prompts (the
 * EM warm start), or a frozen batch computed once (compression). `collect` is called once a step.
 */
export interface Sampler {
  readonly description: string;
  collect(step: number): Promise<TrainBatch>;
  dispose?(): void;
}
