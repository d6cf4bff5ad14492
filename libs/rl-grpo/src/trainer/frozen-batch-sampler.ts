import * as tf from '@tensorflow/tfjs-core';
import { DEFAULT_LOGITS_CHUNK_BYTES, packBatchArrays, toPackedBatch } from '@emrl/lm';
import { sampleGroups, type SamplingOptions } from '../grpo/rollout';
import type { Policy } from '../policy';
import { encodePrompt } from '../tasks/prompt-format';
import type { Task, TaskExample } from '../tasks/task';
import type { Sampler, TrainBatch } from './sampler';

/**
 * A frozen batch: the policy's samples of some prompts and their raw logits, computed ONCE (on the
 * first collect, with no adapter attached) and served every step. Confidence compression trains a
 * logits adapter on it; the model is never run again.
 *
 * The logits [rows, T, V] live for the whole stage (and the adapter and EM term work on them
 * whole), so they must fit in the logits budget: at a 151,936 vocabulary 32 MiB is 55 positions.
 * The worst case (longest prompt + maxNewTokens for every row) is checked before sampling, and a
 * batch over budget is refused with what to shrink.
 */
export class FrozenBatchSampler implements Sampler {
  readonly description: string;
  private batch: TrainBatch | null = null;

  constructor(
    private readonly o: {
      policy: Policy;
      task: Task;
      prompts: readonly TaskExample[];
      rollouts: number;
      sampling: SamplingOptions;
      /** Bytes the frozen float32 logits may take (default 32 MiB). */
      logitsBudgetBytes?: number;
      /** Names the stage in the over-budget error. */
      stageId?: string;
    },
  ) {
    this.description = `a frozen batch of ${o.prompts.length} prompt(s) x ${o.rollouts} samples and their logits`;
  }

  async collect(): Promise<TrainBatch> {
    if (this.batch) return this.batch;
    const { policy, task, prompts, rollouts, sampling } = this.o;
    if (policy.model.getLogitsAdapter()) {
      throw new Error(`a frozen batch needs the raw model's logits, but the model has a logits adapter ("${policy.model.getLogitsAdapter()!.name}"); remove it first (remove-adapter stage)`);
    }
    checkFrozenLogitsBudget(this.o);
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

const MIB = 2 ** 20;
const mib = (bytes: number): string => `${Number((bytes / MIB).toPrecision(3))} MiB`;

/** Throws when the frozen batch's logits could exceed the budget (worst case: every row at the longest prompt + maxNewTokens). */
export function checkFrozenLogitsBudget(o: { policy: Policy; task: Task; prompts: readonly TaskExample[]; rollouts: number; sampling: SamplingOptions; logitsBudgetBytes?: number; stageId?: string }): void {
  const budget = o.logitsBudgetBytes ?? DEFAULT_LOGITS_CHUNK_BYTES;
  const V = o.policy.model.config.vocabSize;
  const rows = o.prompts.length * o.rollouts;
  const T = Math.max(0, ...o.prompts.map((e) => encodePrompt(o.task, e, o.policy.tokenizer).length)) + o.sampling.maxNewTokens;
  const bytes = rows * T * V * 4;
  if (bytes <= budget) return;
  const where = o.stageId ? `stage "${o.stageId}"` : 'frozen batch';
  throw new Error(
    `${where}: the frozen logits would take up to ${mib(bytes)} (${o.prompts.length} prompts x ${o.rollouts} rollouts = ${rows} rows x ${T} positions x vocab ${V} x 4 bytes), ` +
      `over the ${mib(budget)} logits budget; lower the stage's prompts or rollouts (or the task's maxCompletionLength), or raise logitsBudgetMiB to at least ${Math.ceil(bytes / MIB)}`,
  );
}
