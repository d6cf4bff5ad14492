// GRPO policy loss over per-token log-probs, as the mature trainers (TRL, verl) define it.
//   rho_t = exp(logp_t - logp_old_t)                        importanceLevel 'token'
//   rho_t = exp(sum_t m_t (logp_t - logp_old_t) / sum_t m_t) importanceLevel 'sequence' (GSPO, arXiv 2507.18071),
//                                                           one ratio per sequence broadcast to its tokens
//   l_t   = -min(rho_t A, clip(rho_t, 1 - epsLow, 1 + epsHigh) A) + beta * KL_t
//   KL_t  = exp(ref_t - logp_t) - (ref_t - logp_t) - 1     (k3 estimator, always >= 0)
// Aggregation: 'grpo' = mean over sequences of per-sequence masked token means;
// 'bnpo' = masked sum / token count (DAPO's token-mean, arXiv 2503.14476);
// 'dr_grpo' = masked sum / (B * maxCompletionLength) (arXiv 2503.20783).
// Clip-higher (epsHigh > epsLow) follows DAPO.
import * as tf from '@tensorflow/tfjs-core';
// Gradients are registered separately from the ops in tfjs-core; this loss is always differentiated.
import { z } from 'zod';

export const GrpoLossTypeSchema = z.enum(['grpo', 'bnpo', 'dr_grpo']);
export type GrpoLossType = z.infer<typeof GrpoLossTypeSchema>;
export const ImportanceLevelSchema = z.enum(['token', 'sequence']);
export type ImportanceLevel = z.infer<typeof ImportanceLevelSchema>;

export const GrpoLossConfigSchema = z
  .object({
    /** Lower clip range: ratios below 1 - epsLow are clipped (for A < 0). */
    epsLow: z.number().min(0).max(1).default(0.2),
    /** Upper clip range (DAPO clip-higher uses 0.28). */
    epsHigh: z.number().min(0).default(0.2),
    /** Weight of the k3 KL to the reference model; 0 switches it off (no reference needed). */
    beta: z.number().min(0).default(0),
    importanceLevel: ImportanceLevelSchema.default('token'),
    lossType: GrpoLossTypeSchema.default('grpo'),
    /** Denominator length for 'dr_grpo' (the generation budget, not the batch's longest). */
    maxCompletionLength: z.number().int().positive().optional(),
  })
  .superRefine((c, ctx) => {
    if (c.lossType === 'dr_grpo' && c.maxCompletionLength === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxCompletionLength'],
        message: 'lossType "dr_grpo" divides by B * maxCompletionLength; set maxCompletionLength to the generation budget',
      });
    }
  });
export type GrpoLossConfig = z.infer<typeof GrpoLossConfigSchema>;

export interface GrpoLossInput extends Partial<GrpoLossConfig> {
  /** Log-probs of the sampled tokens under the current policy [B, T] (differentiable). */
  logprobs: tf.Tensor2D;
  /** Log-probs under the policy that sampled them [B, T]; treated as constants. */
  oldLogprobs: tf.Tensor2D;
  /** Log-probs under the frozen reference [B, T]; required when beta > 0. Treated as constants. */
  refLogprobs?: tf.Tensor2D;
  /** One advantage per sequence [B]. */
  advantages: tf.Tensor1D | readonly number[];
  /** 1 on completion tokens, 0 on prompt / padding [B, T] float32. */
  mask: tf.Tensor2D;
}

/** Scalar metrics, masked token means unless noted. Each tensor is tf.keep()-ed; see grpoLoss. */
export interface GrpoLossMetrics {
  /** Masked mean of the k3 KL (0 when there is no reference). */
  kl: tf.Scalar;
  /** Fraction of tokens with ratio < 1 - epsLow and A < 0 (TRL `clip_ratio/low_mean`). */
  clipRatioLow: tf.Scalar;
  /** Fraction of tokens with ratio > 1 + epsHigh and A > 0 (TRL `clip_ratio/high_mean`). */
  clipRatioHigh: tf.Scalar;
  /** Fraction with either (TRL `clip_ratio/region_mean`). */
  clipRatioRegion: tf.Scalar;
  /** Masked mean of the (token or sequence) importance ratio. */
  ratioMean: tf.Scalar;
}

export interface GrpoLossOutput {
  loss: tf.Scalar;
  metrics: GrpoLossMetrics;
}

/** Identity whose gradient is zero (tfjs-core has no stopGradient). */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const a = args[0] as tf.Tensor;
    return { value: tf.clone(a), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) };
  });
  return f(x) as T;
}

function checkShapes(input: GrpoLossInput): void {
  const shape = input.logprobs.shape;
  const same = (name: string, t: tf.Tensor | undefined): void => {
    if (t && (t.shape.length !== 2 || t.shape[0] !== shape[0] || t.shape[1] !== shape[1])) {
      throw new Error(`loss.ts: ${name} has shape [${t.shape}] but logprobs is [${shape}]; pass [B, T] tensors aligned with logprobs`);
    }
  };
  same('oldLogprobs', input.oldLogprobs);
  same('refLogprobs', input.refLogprobs);
  same('mask', input.mask);
  const nAdv = Array.isArray(input.advantages) ? input.advantages.length : (input.advantages as tf.Tensor1D).shape[0];
  if (nAdv !== shape[0]) {
    throw new Error(`loss.ts: advantages has ${nAdv} entries but logprobs has B = ${shape[0]} rows; pass one advantage per sequence`);
  }
}

/** sum(x * mask) / max(sum(mask), 1) -> scalar. */
function maskedMean(x: tf.Tensor, mask: tf.Tensor): tf.Scalar {
  return tf.div(tf.sum(tf.mul(x, mask)), tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
}

/**
 * The GRPO loss and its metrics. Differentiable w.r.t. `logprobs` only (old / ref log-probs are
 * wrapped in a zero-gradient identity, so passing `oldLogprobs = logprobs` for mu = 1 is safe).
 *
 * Call it inside the gradient closure (tf.variableGrads / tf.grad). The metric tensors are
 * tf.keep()-ed so they survive that closure's internal tidy: the caller owns and must dispose them
 * (`readGrpoLossMetrics` reads and disposes in one go).
 */
export function grpoLoss(input: GrpoLossInput): GrpoLossOutput {
  const cfg = GrpoLossConfigSchema.parse({
    epsLow: input.epsLow,
    epsHigh: input.epsHigh,
    beta: input.beta,
    importanceLevel: input.importanceLevel,
    lossType: input.lossType,
    maxCompletionLength: input.maxCompletionLength,
  });
  checkShapes(input);
  if (cfg.beta > 0 && !input.refLogprobs) {
    throw new Error('loss.ts: beta > 0 needs refLogprobs (log-probs of the frozen reference model); pass them or set beta to 0');
  }
  let metrics: GrpoLossMetrics | null = null;
  const loss = tf.tidy(() => {
    const B = input.logprobs.shape[0];
    const logp = input.logprobs; // [B, T]
    const mask = tf.cast(input.mask, 'float32'); // [B, T]
    const old = stopGradient(input.oldLogprobs); // [B, T]
    const adv1 = Array.isArray(input.advantages) ? tf.tensor1d(input.advantages as number[]) : (input.advantages as tf.Tensor1D);
    const adv = tf.reshape(tf.cast(adv1, 'float32'), [B, 1]); // [B, 1]

    const logRatio = tf.sub(logp, old); // [B, T]
    let logWeights: tf.Tensor; // [B, T] or [B, 1]
    if (cfg.importanceLevel === 'token') {
      logWeights = logRatio;
    } else {
      // GSPO: length-normalized sequence log ratio, broadcast back to the tokens.
      const seqLen = tf.maximum(tf.sum(mask, 1, true), 1); // [B, 1]
      logWeights = tf.div(tf.sum(tf.mul(logRatio, mask), 1, true), seqLen); // [B, 1]
    }
    const ratio = tf.exp(logWeights); // [B, T] or [B, 1]
    const clipped = tf.clipByValue(ratio, 1 - cfg.epsLow, 1 + cfg.epsHigh);
    const surrogate = tf.minimum(tf.mul(ratio, adv), tf.mul(clipped, adv)); // [B, T] or [B, 1]
    let perToken: tf.Tensor = tf.mul(tf.neg(surrogate), tf.onesLike(logp)); // broadcast to [B, T]

    let klTok: tf.Tensor | null = null;
    if (input.refLogprobs) {
      const d = tf.sub(stopGradient(input.refLogprobs), logp); // [B, T]
      klTok = tf.sub(tf.sub(tf.exp(d), d), 1); // [B, T]
      if (cfg.beta > 0) perToken = tf.add(perToken, tf.mul(klTok, cfg.beta));
    }

    const masked = tf.mul(perToken, mask); // [B, T]
    let value: tf.Scalar;
    if (cfg.lossType === 'grpo') {
      const perSeq = tf.div(tf.sum(masked, 1), tf.maximum(tf.sum(mask, 1), 1)); // [B]
      value = tf.mean(perSeq) as tf.Scalar;
    } else if (cfg.lossType === 'bnpo') {
      value = tf.div(tf.sum(masked), tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
    } else {
      value = tf.div(tf.sum(masked), B * (cfg.maxCompletionLength as number)) as tf.Scalar;
    }

    // Metrics (TRL definitions), broadcast to tokens and masked.
    const ratioTok = tf.mul(ratio, tf.onesLike(logp)); // [B, T]
    const low = tf.cast(tf.logicalAnd(tf.less(ratioTok, 1 - cfg.epsLow), tf.less(adv, 0)), 'float32');
    const high = tf.cast(tf.logicalAnd(tf.greater(ratioTok, 1 + cfg.epsHigh), tf.greater(adv, 0)), 'float32');
    metrics = {
      kl: tf.keep(klTok ? maskedMean(klTok, mask) : tf.scalar(0)),
      clipRatioLow: tf.keep(maskedMean(low, mask)),
      clipRatioHigh: tf.keep(maskedMean(high, mask)),
      clipRatioRegion: tf.keep(maskedMean(tf.maximum(low, high), mask)),
      ratioMean: tf.keep(maskedMean(ratioTok, mask)),
    };
    return value;
  });
  return { loss, metrics: metrics as unknown as GrpoLossMetrics };
}

/** Read the metric scalars into numbers (TRL-style names) and dispose them. */
export function readGrpoLossMetrics(metrics: GrpoLossMetrics): Record<string, number> {
  const out: Record<string, number> = {
    kl: metrics.kl.dataSync()[0]!,
    'clip_ratio/low_mean': metrics.clipRatioLow.dataSync()[0]!,
    'clip_ratio/high_mean': metrics.clipRatioHigh.dataSync()[0]!,
    'clip_ratio/region_mean': metrics.clipRatioRegion.dataSync()[0]!,
    'ratio/mean': metrics.ratioMean.dataSync()[0]!,
  };
  for (const t of Object.values(metrics) as tf.Tensor[]) t.dispose();
  return out;
}
