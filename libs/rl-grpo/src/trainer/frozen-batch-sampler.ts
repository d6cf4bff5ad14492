import * as tf from '@tensorflow/tfjs-core';
import { packBatchArrays, toPackedBatch } from '@emrl/lm';
import { sampleGroups, type SamplingOptions } from '../grpo/rollout';
import type { Policy } from '../policy';
import type { Task, TaskExample } from '../tasks/task';
import type { Sampler, TrainBatch } from './sampler';

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
