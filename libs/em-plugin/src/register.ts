import { registerLossTermPlugin } from '@emrl/rl-grpo';
import { EmRegularizerConfigSchema, EmRegularizerPlugin } from './regularizer';

/**
 * Options of `plugins: [{ em-regularizer: { ... } }]` in a GRPO config: the regularizer's config,
 * strict so a misspelled option is an error instead of being ignored.
 */
export const EmRegularizerPluginOptionsSchema = EmRegularizerConfigSchema.strict();

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
