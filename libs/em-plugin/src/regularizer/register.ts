import { registerLossTermPlugin } from '@emrl/rl-grpo';
import { z } from 'zod';
import { EmCoefScheduleSchema, EmRegularizerConfigSchema, EmRegularizerPlugin } from './regularizer';

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

/** Registers the EM regularizer with rl-grpo's loss-term plugin registry (idempotent). */
export function registerEmRegularizer(): void {
  registerLossTermPlugin({
    name: 'em-regularizer',
    description: 'Entropy minimization (arXiv 2505.20282) as a GRPO loss term: loss += coef * mean token entropy (fixed, scheduled or adaptive coef).',
    schema: EmRegularizerPluginOptionsSchema,
    create: (config) => new EmRegularizerPlugin(config),
  });
}

registerEmRegularizer();
