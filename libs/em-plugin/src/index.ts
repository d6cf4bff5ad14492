// @emrl/em-plugin public API: everything EM, on rl-grpo's public API.
export * from './shared/losses';
export * from './shared/answer-entropy';
export * from './warm-start/selection';
export * from './regularizer/regularizer';
export * from './compression/compression';
export * from './compression/compression-merge';
export * from './compression/compression-train';
export * from './warm-start/early-stop';
export * from './warm-start/heldout-signals';
export * from './warm-start/weight-snapshots';
export * from './warm-start/em-stage';
export * from './warm-start/select-stage';
export * from './compression/compress-stage';
export * from './regularizer/register';
export * from './compression/remove-adapter-stage';
export * from './shared/label-free-rewards';
