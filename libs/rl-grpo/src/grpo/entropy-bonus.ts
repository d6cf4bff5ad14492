import * as tf from '@tensorflow/tfjs-core';
import { maskedMean } from '@emrl/lm';
import { z } from 'zod';
import type { LossTermInput, LossTermOutput, LossTermPlugin } from '../stage-kit/plugin';
import type { LossTermPluginFactory } from '../stage-kit/registry';

export const EntropyBonusConfigSchema = z
  .object({
    coef: z.number().min(0).default(0.001).meta({ description: 'Initial (or fixed) coefficient; the trainer adds -coef * mean token entropy.' }),
    targetEntropy: z.number().positive().optional().meta({
      description: 'Adaptive mode (Skywork-OR1, arXiv 2505.22312): raise coef when entropy is below this target, lower it above. Absent: fixed coef.',
    }),
    coefDelta: z.number().positive().default(0.0005).meta({ description: 'Adaptive step added to / removed from coef each step.' }),
    maxCoef: z.number().positive().default(0.05),
    temperature: z.number().positive().optional().meta({ description: "Entropy temperature; default: the trainer's." }),
  })
  .strict();
export type EntropyBonusConfig = z.infer<typeof EntropyBonusConfigSchema>;

/**
 * Entropy bonus as TRL (entropy_coef) and verl (entropy_coeff) have it: loss -= coef * H, where H is
 * the token-mean full-vocabulary entropy over completion tokens. Maximizing entropy = minimizing -H.
 */
export class EntropyBonusPlugin implements LossTermPlugin {
  readonly name = 'entropy-bonus';
  private coef: number;
  private readonly config: EntropyBonusConfig;

  constructor(config: z.input<typeof EntropyBonusConfigSchema> = {}) {
    this.config = EntropyBonusConfigSchema.parse(config);
    this.coef = this.config.coef;
  }

  compute(input: LossTermInput): LossTermOutput {
    const tau = this.config.temperature ?? input.temperature;
    const entropy = maskedMean(input.tokenStats(tau).entropy, input.lossMask) as tf.Scalar; // []
    return { loss: tf.neg(entropy), coef: this.coef, metrics: { entropy } };
  }

  afterStep(metrics: Readonly<Record<string, number>>): void {
    const target = this.config.targetEntropy;
    const h = metrics[`${this.name}/entropy`];
    if (target === undefined || h === undefined) return;
    const next = h < target ? this.coef + this.config.coefDelta : this.coef - this.config.coefDelta;
    this.coef = Math.min(this.config.maxCoef, Math.max(0, next));
  }

  state(): Record<string, number> {
    return { coef: this.coef };
  }

  loadState(state: Record<string, number>): void {
    if (typeof state['coef'] === 'number') this.coef = state['coef'];
  }
}

/** `plugins: [{ entropy-bonus: { ... } }]` in a GRPO stage. */
export const entropyBonusPluginFactory: LossTermPluginFactory<typeof EntropyBonusConfigSchema> = {
  name: 'entropy-bonus',
  description: 'TRL/verl entropy bonus: loss -= coef * mean token entropy (fixed, or adaptive toward a target).',
  schema: EntropyBonusConfigSchema,
  create: (config) => new EntropyBonusPlugin(config),
};
