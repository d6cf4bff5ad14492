import * as tf from '@tensorflow/tfjs-core';
import { packBatchArrays, toPackedBatch } from '@emrl/lm';
import { logitStatistics, type LogitStatistics, type LogitStatsConfig } from './logit-stats';
import type { Policy } from '../policy';
import { sampleGroups } from '../grpo/rollout';
import { encodePrompt } from '../tasks/prompt-format';
import type { Task, TaskExample } from '../tasks/task';

export interface LogitProbeOptions {
  examples: readonly TaskExample[];
  /**
   * Fixed responses (token ids, one per example) so two checkpoints are compared on the same
   * positions. Absent: each model's own samples at `sampleTemperature`.
   */
  responses?: readonly (readonly number[])[];
  /** Sampling temperature for own samples (the paper's logit-shift figure used 0.6). */
  sampleTemperature?: number;
  /** Length limit of own samples; default the task's maxCompletionLength. */
  maxNewTokens?: number;
  seed?: number;
  stats?: Partial<LogitStatsConfig>;
}

export interface LogitProbeResult {
  stats: LogitStatistics;
  /** The responses the statistics were computed on (reuse them as `responses` for another checkpoint). */
  responses: number[][];
  responseSource: 'fixed' | 'own-samples';
  sampleTemperature: number | null;
}

/**
 * Logit statistics of a policy over a probe set: one forward pass over prompt + response, the
 * response-predicting positions only (lossMask). Every figure names its scope (see logit-stats.ts).
 */
export async function probeLogitStatistics(policy: Policy, task: Task, opts: LogitProbeOptions): Promise<LogitProbeResult> {
  const examples = opts.examples;
  if (examples.length === 0) throw new Error('probeLogitStatistics: no probe examples');
  let responses: number[][];
  let source: LogitProbeResult['responseSource'];
  const sampleTemperature = opts.sampleTemperature ?? 0.6;
  if (opts.responses) {
    if (opts.responses.length !== examples.length) {
      throw new Error(`probeLogitStatistics: ${opts.responses.length} fixed responses for ${examples.length} probe prompts; pass one per prompt`);
    }
    responses = opts.responses.map((r) => [...r]);
    source = 'fixed';
  } else {
    const r = await sampleGroups(policy, task, examples, 1, {
      temperature: sampleTemperature,
      topP: 1,
      topK: 0,
      maxNewTokens: opts.maxNewTokens ?? task.maxCompletionLength,
      seed: opts.seed ?? 0,
    });
    responses = r.completionIds;
    source = 'own-samples';
  }
  // An empty response has no position to measure; give it the EOS token so packing stays aligned.
  const padded = responses.map((r) => (r.length ? r : [policy.tokenizer.eosTokenId]));
  const prompts = examples.map((e) => encodePrompt(task, e, policy.tokenizer));
  const packed = packBatchArrays(prompts, padded, policy.tokenizer.padTokenId);
  const { logits, mask } = tf.tidy(() => {
    const b = toPackedBatch(packed);
    return { logits: policy.model.forward(b.inputIds, { attentionMask: b.attentionMask }), mask: tf.keep(b.lossMask) };
  });
  try {
    const stats = logitStatistics({ ...(opts.stats ?? {}), logits, mask });
    return { stats, responses, responseSource: source, sampleTemperature: source === 'own-samples' ? sampleTemperature : null };
  } finally {
    logits.dispose();
    mask.dispose();
  }
}
