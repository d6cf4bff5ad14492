import * as tf from '@tensorflow/tfjs-core';
import { modelTokenStats, packBatchArrays, toPackedBatch } from '@emrl/lm';
import { probeLogitStatistics, sampleGroups, type Policy, type Task, type TaskExample } from '@emrl/rl-grpo';
import { heldOutAgreement } from './early-stop';
import { entropyPoolLoss } from '../shared/losses';

/**
 * Label-free signals on held-out UNLABELED prompts, measured between EM steps (answers unused):
 *
 * - `heldout/agreement`: maj@k consistency (heldOutAgreement) of k samples per prompt drawn with a
 *   FIXED seed every time (common random numbers: a change reflects the model, not the draw).
 * - `heldout/entropy`: token-mean full-vocabulary entropy of softmax(z / tau) over the response
 *   positions of those same k samples (the EM loss evaluated on held-out prompts).
 * - `heldout/skewness`: logit skewness in scope HELDOUT_SKEWNESS_SCOPE (rl-grpo's
 *   probeLogitStatistics) on FIXED responses -- the first sample of each prompt drawn from the
 *   policy as it entered the stage -- so every step is measured on the same positions.
 */
export const HELDOUT_SKEWNESS_SCOPE = 'skewness/per_position_mean/full_vocab/raw_logits';

export const HELDOUT_SIGNALS = ['heldout/agreement', 'heldout/entropy', 'heldout/skewness'] as const;
export type HeldOutSignals = Record<(typeof HELDOUT_SIGNALS)[number], number>;

export interface HeldOutProbeOptions {
  examples: readonly TaskExample[];
  /** k samples per prompt. */
  samples: number;
  sampleTemperature: number;
  topP: number;
  /** Entropy temperature tau of `heldout/entropy`. */
  temperature: number;
  maxNewTokens: number;
  /** Seed of the held-out draw (keep it fixed across steps). */
  seed: number;
  /** Responses for the skewness probe (one per prompt); absent: use this call's first samples. */
  fixedResponses?: readonly (readonly number[])[];
  /** The stage's logits budget in bytes (default 32 MiB): entropy and skewness go in chunks of positions past it. */
  logitsBudgetBytes?: number;
}

export interface HeldOutMeasurement {
  signals: HeldOutSignals;
  /** The responses the skewness was measured on (pass them back as fixedResponses). */
  responses: number[][];
}

export async function measureHeldOutSignals(policy: Policy, task: Task, opts: HeldOutProbeOptions): Promise<HeldOutMeasurement> {
  const { examples, samples: k } = opts;
  if (examples.length === 0) throw new Error('em-plugin heldout-signals.ts: no held-out prompts; set earlyStop.heldOut >= 1 and use a split with prompts');
  const r = await sampleGroups(policy, task, examples, k, {
    temperature: opts.sampleTemperature,
    topP: opts.topP,
    topK: 0,
    maxNewTokens: opts.maxNewTokens,
    seed: opts.seed,
  });
  const answers = r.completions.map((c) => task.extractAnswer(c));
  const groups = examples.map((_, p) => answers.slice(p * k, (p + 1) * k));
  const packed = packBatchArrays(r.promptIds, r.completionIds, policy.tokenizer.padTokenId);
  const entropy = tf.tidy(() => {
    const b = toPackedBatch(packed);
    const stats = modelTokenStats(policy.model, b, { logitsBudgetBytes: opts.logitsBudgetBytes }); // chunks of positions at a large vocabulary
    return entropyPoolLoss({ entropy: stats.at(opts.temperature).entropy, lossMask: b.lossMask }).dataSync()[0]!;
  });
  const responses = opts.fixedResponses ? opts.fixedResponses.map((x) => [...x]) : examples.map((_, p) => r.completionIds[p * k]!);
  const probe = await probeLogitStatistics(policy, task, { examples, responses, stats: { temperature: opts.temperature }, logitsBudgetBytes: opts.logitsBudgetBytes });
  return {
    signals: {
      'heldout/agreement': heldOutAgreement(groups),
      'heldout/entropy': entropy,
      'heldout/skewness': probe.stats.figures[HELDOUT_SKEWNESS_SCOPE] ?? Number.NaN,
    },
    responses,
  };
}
