import { z } from 'zod';
import type { LossTermInput, LossTermOutput, LossTermPlugin } from '@emrl/rl-grpo';
import { entropyPoolLoss } from '../shared/losses';

/**
 * EM as a regularizer inside GRPO: the trainer adds `coef * L_EM` to the loss it MINIMIZES, with
 * L_EM = mean token entropy of the GRPO batch (arXiv 2505.20282's loss). Sign convention:
 * coef > 0 lowers entropy (entropy minimization); an entropy *bonus* is the same term with
 * coef < 0 (rl-grpo's entropy-bonus plugin). Both plugins can be active at once; neither knows
 * the other.
 *
 * Adaptive coefficient: coef <- clamp(coef + lr * (H - targetEntropy), min, max). Entropy above
 * the target raises coef (more minimization), below it lowers coef toward min (0 = off). This is
 * the mirror image of Skywork-OR1's adaptive entropy bonus, which raises its bonus when entropy
 * falls below the target.
 */

const FixedSchema = z.object({ type: z.literal('fixed'), value: z.number().min(0) });
const LinearWarmupSchema = z.object({
  type: z.literal('linear-warmup'),
  value: z.number().min(0),
  /** coef = value * min(1, (step + 1) / warmupSteps). */
  warmupSteps: z.number().int().positive(),
});
const CosineDecaySchema = z.object({
  type: z.literal('cosine-decay'),
  /** Coefficient at the start of the decay. */
  value: z.number().min(0),
  finalValue: z.number().min(0).default(0),
  /** Steps of linear warmup before the decay (default 0). */
  warmupSteps: z.number().int().min(0).default(0),
  /** Steps over which to decay after warmup (default: so the last step, totalSteps - 1, reaches finalValue). */
  decaySteps: z.number().int().positive().optional(),
});
const AdaptiveSchema = z
  .object({
    type: z.literal('adaptive'),
    initial: z.number().min(0).default(0),
    targetEntropy: z.number().min(0),
    lr: z.number().positive(),
    min: z.number().min(0).default(0),
    max: z.number().positive().optional(),
  })
  .superRefine((c, ctx) => {
    if (c.max !== undefined && c.max < c.min) {
      ctx.addIssue({ code: 'custom', path: ['max'], message: `em regularizer: coef.max (${c.max}) must be >= coef.min (${c.min})` });
    }
  });

export const EmCoefScheduleSchema = z.discriminatedUnion('type', [FixedSchema, LinearWarmupSchema, CosineDecaySchema, AdaptiveSchema]);
export type EmCoefSchedule = z.infer<typeof EmCoefScheduleSchema>;

export const EmRegularizerConfigSchema = z.object({
  /** Entropy temperature tau; absent = the trainer's temperature (LossTermInput.temperature). */
  temperature: z.number().positive().optional(),
  pooling: z.enum(['token-mean', 'sequence-mean']).default('token-mean'),
  /** Count only the last fraction of each response (RENT, arXiv 2505.22660). */
  lastFraction: z.number().gt(0).max(1).optional(),
  coef: EmCoefScheduleSchema.default({ type: 'fixed', value: 0.01 }),
});
export type EmRegularizerConfig = z.infer<typeof EmRegularizerConfigSchema>;

/** The coefficient of a non-adaptive schedule at `step` (0-based) of `totalSteps`. */
export function scheduledCoef(schedule: Exclude<EmCoefSchedule, { type: 'adaptive' }>, step: number, totalSteps: number): number {
  switch (schedule.type) {
    case 'fixed':
      return schedule.value;
    case 'linear-warmup':
      return schedule.value * Math.min(1, (step + 1) / schedule.warmupSteps);
    case 'cosine-decay': {
      const { value, finalValue, warmupSteps } = schedule;
      if (step < warmupSteps) return value * ((step + 1) / warmupSteps);
      const decaySteps = schedule.decaySteps ?? Math.max(1, totalSteps - 1 - warmupSteps);
      const progress = Math.min(1, (step - warmupSteps) / decaySteps);
      return finalValue + (value - finalValue) * 0.5 * (1 + Math.cos(Math.PI * progress));
    }
  }
}

/** One adaptive update: coef + lr * (entropy - target), clamped to [min, max]. */
export function adaptiveCoefUpdate(coef: number, entropy: number, schedule: Extract<EmCoefSchedule, { type: 'adaptive' }>): number {
  const next = coef + schedule.lr * (entropy - schedule.targetEntropy);
  return Math.min(schedule.max ?? Infinity, Math.max(schedule.min, next));
}

/**
 * The EM objective as a loss term: coef * L_EM with L_EM the mean token entropy at tau. One class
 * in all three placements: the warm start ('em', coef 1), the regularizer inside GRPO
 * ('em-regularizer', scheduled or adaptive coef) and compression ('em' on adapted frozen logits).
 * Its name is its metric prefix: `em-regularizer/entropy`, `em/entropy`.
 */
export class EmLossTerm implements LossTermPlugin {
  readonly name: string;
  readonly config: EmRegularizerConfig;
  private coef: number;
  private updates = 0;

  constructor(config: z.input<typeof EmRegularizerConfigSchema> = {}, name = 'em-regularizer') {
    this.name = name;
    this.config = EmRegularizerConfigSchema.parse(config);
    const c = this.config.coef;
    this.coef = c.type === 'adaptive' ? Math.min(c.max ?? Infinity, Math.max(c.min, c.initial)) : 0;
  }

  /** The coefficient that `compute` uses at this step. */
  coefAt(step: number, totalSteps: number): number {
    const c = this.config.coef;
    return c.type === 'adaptive' ? this.coef : scheduledCoef(c, step, totalSteps);
  }

  compute(input: LossTermInput): LossTermOutput {
    const loss = entropyPoolLoss({
      entropy: input.tokenStats(this.config.temperature ?? input.temperature).entropy, // [B, T]
      lossMask: input.lossMask,
      pooling: this.config.pooling,
      lastFraction: this.config.lastFraction,
    });
    const coef = this.coefAt(input.step, input.totalSteps);
    // `entropy` is the same scalar as the loss (the entropy this term sees), reported as <name>/entropy;
    // the trainer reports <name>/loss and <name>/coef itself.
    return { loss, coef, normalizer: this.config.pooling === 'sequence-mean' ? 'sequences' : 'tokens', metrics: { entropy: loss } };
  }

  afterStep(metrics: Readonly<Record<string, number>>): void {
    const c = this.config.coef;
    if (c.type !== 'adaptive') return;
    const h = metrics[`${this.name}/entropy`];
    if (h === undefined || !Number.isFinite(h)) {
      throw new Error(
        `em-plugin regularizer.ts: adaptive coef needs metric "${this.name}/entropy" in afterStep (got ${h}); the trainer must pass the plugin's metrics read after the step`,
      );
    }
    this.coef = adaptiveCoefUpdate(this.coef, h, c);
    this.updates += 1;
  }

  state(): Record<string, number> {
    return { coef: this.coef, updates: this.updates };
  }

  loadState(state: Record<string, number>): void {
    if (typeof state['coef'] !== 'number' || !Number.isFinite(state['coef'])) {
      throw new Error(`em-plugin regularizer.ts loadState: state.coef must be a finite number, got ${state['coef']}; pass the object returned by state()`);
    }
    this.coef = state['coef'];
    this.updates = state['updates'] ?? 0;
  }
}

/** The regularizer placement of the EM term (kept name of the public API). */
export const EmRegularizerPlugin = EmLossTerm;
export type EmRegularizerPlugin = EmLossTerm;
