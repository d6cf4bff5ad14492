import { entropyBonusPluginFactory } from './grpo/entropy-bonus';
import { accuracyReward, formatReward } from './grpo/rewards';
import { Registry } from './stage-kit/registry';

/** Registers what rl-grpo brings: the entropy-bonus term and the accuracy / format rewards. */
export function registerRlGrpo(registry: Registry): Registry {
  return registry.registerLossTerm(entropyBonusPluginFactory).registerReward('accuracy', accuracyReward).registerReward('format', formatReward);
}

/** A registry with rl-grpo's built-ins (add em-plugin's with registerEmPlugins). */
export function createRegistry(): Registry {
  return registerRlGrpo(new Registry());
}
