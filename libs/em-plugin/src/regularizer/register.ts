import type { LossTermPluginFactory, Registry } from '@emrl/rl-grpo';
import { z } from 'zod';
import { majorityAgreementRewardFn } from '../shared/label-free-rewards';
import { EmCoefScheduleSchema, EmLossTerm, EmRegularizerConfigSchema } from './regularizer';

/**
 * Options of `plugins: [{ em-regularizer: { ... } }]` in a GRPO config: the regularizer's config,
 * strict so a misspelled option is an error instead of being ignored.
 */
export const EmRegularizerPluginOptionsSchema = EmRegularizerConfigSchema.extend({
  coef: z
    .union([z.number().min(0).transform((value) => ({ type: 'fixed' as const, value })), EmCoefScheduleSchema])
    .default({ type: 'fixed', value: 0.01 })
    .meta({ description: 'A number (fixed), or { type: fixed | linear-warmup | cosine-decay | adaptive, ... }.' }),
}).strict();

/** The `em-regularizer` plugin: EM inside the GRPO loss. Its metrics are `em-regularizer/...`. */
export const emRegularizerPluginFactory: LossTermPluginFactory<typeof EmRegularizerPluginOptionsSchema> = {
  name: 'em-regularizer',
  description: 'Entropy minimization (arXiv 2505.20282) as a GRPO loss term: loss += coef * mean token entropy (fixed, scheduled or adaptive coef).',
  schema: EmRegularizerPluginOptionsSchema,
  create: (config) => new EmLossTerm(config, 'em-regularizer'),
};

/** Registers what em-plugin brings to a GRPO stage: the em-regularizer term and the majority-agreement reward. */
export function registerEmPlugins(registry: Registry): Registry {
  return registry.registerLossTerm(emRegularizerPluginFactory).registerReward('majority-agreement', majorityAgreementRewardFn);
}
