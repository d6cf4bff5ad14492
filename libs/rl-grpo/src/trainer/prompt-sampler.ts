import * as tf from '@tensorflow/tfjs-core';
import { packBatchArrays, toPackedBatch } from '@emrl/lm';
import { sampleGroups, type Rollouts, type SamplingOptions } from '../grpo/rollout';
import type { Policy } from '../policy';
import type { Task, TaskExample } from '../tasks/task';
import type { Sampler, TrainBatch } from './sampler';

export interface PromptSamplerOptions {
  policy: Policy;
  task: Task;
  /** The prompts every step samples (the EM warm start: the selected one, or a few given ones). */
  prompts: readonly TaskExample[];
  /** Completions per prompt per step. */
  rollouts: number;
  /** Sampling options of step `step` (the seed must depend on it for fresh rollouts each step). */
  sampling: (step: number) => SamplingOptions;
  /** Extra metrics of a step's completions (e.g. answer entropy). */
  metricsOf?: (rollouts: Rollouts) => Record<string, number>;
}

const mean = (xs: readonly number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

/** On-policy rollouts of fixed prompts, fresh every step: the EM warm start's sampler. */
export class PromptSampler implements Sampler {
  readonly description: string;

  constructor(private readonly o: PromptSamplerOptions) {
    this.description = `${o.prompts.length} prompt(s) x ${o.rollouts} rollouts per step`;
  }

  async collect(step: number): Promise<TrainBatch> {
    const o = this.o;
    const r = await sampleGroups(o.policy, o.task, o.prompts, o.rollouts, o.sampling(step));
    const packed = packBatchArrays(r.promptIds, r.completionIds, o.policy.tokenizer.padTokenId);
    const lengths = r.completionIds.map((t) => t.length);
    const metrics = {
      ...(o.metricsOf?.(r) ?? {}),
      'completions/mean_length': mean(lengths),
      'completions/clipped_ratio': mean(r.truncated.map((t) => (t ? 1 : 0))),
    };
    return { packed, groupSize: o.rollouts, metrics, generatedTokens: r.numGeneratedTokens };
  }
}

/**
 * A frozen batch: the policy's samples of some prompts and their raw logits, computed ONCE (on the
 * first collect, with no adapter attached) and served every step. Confidence compression trains a
 * logits adapter on it; the model is never run again.
 */
export class FrozenBatchSampler implements Sampler {
  readonly description: string;
  private batch: TrainBatch | null = null;

  constructor(private readonly o: { policy: Policy; task: Task; prompts: readonly TaskExample[]; rollouts: number; sampling: SamplingOptions }) {
    this.description = `a frozen batch of ${o.prompts.length} prompt(s) x ${o.rollouts} samples and their logits`;
  }

  async collect(): Promise<TrainBatch> {
    if (this.batch) return this.batch;
    const { policy, task, prompts, rollouts, sampling } = this.o;
    if (policy.model.getLogitsAdapter()) {
      throw new Error(`a frozen batch needs the raw model's logits, but the model has a logits adapter ("${policy.model.getLogitsAdapter()!.name}"); remove it first (remove-adapter stage)`);
    }
    const r = await sampleGroups(policy, task, prompts, rollouts, sampling);
    const packed = packBatchArrays(r.promptIds, r.completionIds, policy.tokenizer.padTokenId);
    const frozenLogits = tf.tidy(() => {
      const b = toPackedBatch(packed);
      return policy.model.forward(b.inputIds, { attentionMask: b.attentionMask }); // [B, T, V]
    });
    this.batch = { packed, groupSize: rollouts, frozenLogits, metrics: {}, generatedTokens: 0 };
    return this.batch;
  }

  dispose(): void {
    this.batch?.frozenLogits?.dispose();
    this.batch = null;
  }
}
