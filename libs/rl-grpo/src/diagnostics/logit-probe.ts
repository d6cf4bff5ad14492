import * as tf from '@tensorflow/tfjs-core';
import { chunkRowsFor, DEFAULT_LOGITS_CHUNK_BYTES, packBatchArrays, tokenStatsPath, toPackedBatch, type CausalLM } from '@emrl/lm';
import { logitStatistics, logitStatisticsOfRows, type LogitRowSource, type LogitStatistics, type LogitStatsConfig } from './logit-stats';
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
  /**
   * Bytes of float32 logits the probe may hold (default 32 MiB, the trainer's default). Whole
   * logits [B, T, V] up to a quarter of it (or any model with a logits adapter) take the plain
   * path; larger ones are computed from the hidden states a chunk of positions at a time.
   */
  logitsBudgetBytes?: number;
}

export interface LogitProbeResult {
  stats: LogitStatistics;
  /** The responses the statistics were computed on (reuse them as `responses` for another checkpoint). */
  responses: number[][];
  responseSource: 'fixed' | 'own-samples';
  sampleTemperature: number | null;
  /** plain: whole logits [B, T, V]; chunked: from the hidden states, a chunk of positions at a time. */
  logitsPath: 'plain' | 'chunked';
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
  const budget = opts.logitsBudgetBytes ?? DEFAULT_LOGITS_CHUNK_BYTES;
  const [B, T] = [packed.batchSize, packed.seqLen];
  const { input, mask } = tf.tidy(() => {
    const b = toPackedBatch(packed);
    const path = tokenStatsPath(policy.model, B, T, budget);
    const x = path === 'plain' ? policy.model.forward(b.inputIds, { attentionMask: b.attentionMask }) : policy.model.hiddenStates(b.inputIds, { attentionMask: b.attentionMask });
    return { input: { path, x }, mask: tf.keep(b.lossMask) };
  });
  try {
    const stats =
      input.path === 'plain'
        ? logitStatistics({ ...(opts.stats ?? {}), logits: input.x as tf.Tensor3D, mask })
        : logitStatisticsOfRows({
            chunkElements: Math.max(policy.model.config.vocabSize, Math.floor(budget / 32)), // 32 MiB: the plain path's 1M-element chunks (~15 temporaries each)
            ...(opts.stats ?? {}),
            // The head's logits a budget-sized block of positions at a time (a matmul has a fixed cost per call), the statistics on slices of it.
            source: { ...hiddenRowSource(policy.model, input.x as tf.Tensor2D, B, T), blockRows: chunkRowsFor(policy.model.config.vocabSize, budget) },
            mask,
          });
    return { stats, responses, responseSource: source, sampleTemperature: source === 'own-samples' ? sampleTemperature : null, logitsPath: input.path };
  } finally {
    input.x.dispose();
    mask.dispose();
  }
}

/** Logit rows of a model with no logits adapter from its hidden states [B*T, D]: the head applied to the asked rows only. */
function hiddenRowSource(model: CausalLM, hidden: tf.Tensor2D, batch: number, seqLen: number): LogitRowSource {
  const V = model.config.vocabSize;
  return {
    batch,
    seqLen,
    vocabSize: V,
    rows: (idx) =>
      tf.tidy(() => {
        const h = tf.gather(hidden, tf.tensor1d([...idx], 'int32')) as tf.Tensor2D; // [n, D]
        return tf.reshape(model.logitsFromHidden(h, 1, idx.length), [idx.length, V]) as tf.Tensor2D; // [n, V]
      }),
  };
}
