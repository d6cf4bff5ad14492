import { packBatchArrays } from '@emrl/lm';
import { mean } from '../grpo/advantages';
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
