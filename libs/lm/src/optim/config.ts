import { z } from 'zod';

const totalStepsField = z
  .number()
  .int()
  .min(1)
  .optional()
  .meta({ description: "step at which the decay reaches minLrRatio * lr; default: the stage's (or run's) steps" });
const warmupStepsField = z.number().int().min(0).default(0).meta({ description: 'linear warmup from lr/warmupSteps to lr' });
const minLrRatioField = z.number().min(0).max(1).default(0).meta({ description: 'final lr as a fraction of lr' });

/**
 * The one lr-schedule vocabulary of emrl (optimizer configs, GRPO and EM stages, the base-model
 * builder): constant, or linear warmup then cosine / linear decay to minLrRatio * lr.
 */
export const LrScheduleSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('constant') }).strict(),
  z.object({ type: z.literal('warmup-cosine'), warmupSteps: warmupStepsField, totalSteps: totalStepsField, minLrRatio: minLrRatioField }).strict(),
  z.object({ type: z.literal('warmup-linear'), warmupSteps: warmupStepsField, totalSteps: totalStepsField, minLrRatio: minLrRatioField }).strict(),
]);
export type LrSchedule = z.infer<typeof LrScheduleSchema>;

/** AdamW with decoupled weight decay (Loshchilov & Hutter, arXiv 1711.05101), as torch.optim.AdamW. */
export const OptimizerConfigSchema = z
  .object({
    lr: z.number().positive().meta({ description: 'peak learning rate' }),
    betas: z.tuple([z.number().min(0).lt(1), z.number().min(0).lt(1)]).default([0.9, 0.999]),
    eps: z.number().positive().default(1e-8),
    weightDecay: z.number().min(0).default(0.01).meta({ description: 'decoupled decay p -= lr * weightDecay * p; 0 = off' }),
    gradClip: z.number().min(0).default(0).meta({ description: 'max global grad norm (torch clip_grad_norm_); 0 = off' }),
    schedule: LrScheduleSchema.default({ type: 'constant' }),
  })
  .superRefine((c, ctx) => {
    const s = c.schedule;
    if (s.type !== 'constant' && s.totalSteps !== undefined && s.warmupSteps > s.totalSteps) {
      ctx.addIssue({
        code: 'custom',
        path: ['schedule', 'warmupSteps'],
        message: `warmupSteps (${s.warmupSteps}) exceeds totalSteps (${s.totalSteps}); lower warmupSteps or raise totalSteps`,
      });
    }
  });
export type OptimizerConfig = z.infer<typeof OptimizerConfigSchema>;
export type OptimizerConfigInput = z.input<typeof OptimizerConfigSchema>;
