// @emrl/em-plugin public API: everything EM, on rl-grpo's public API.
// What the three placements share: the EM losses, answer statistics, label-free rewards.
export * from './shared/losses';
export * from './shared/answer-entropy';
export * from './shared/label-free-rewards';
// The EM term in all three placements, and its placement inside GRPO (the regularizer plugin).
export * from './regularizer/regularizer';
export * from './regularizer/register';
// Before GRPO: one-shot selection, the EM warm-start stage, its label-free early stopping.
export * from './warm-start/selection';
export * from './warm-start/select-stage';
export * from './warm-start/em-stage';
export * from './warm-start/em-monitor';
export * from './warm-start/early-stop';
export * from './warm-start/heldout-signals';
export * from './warm-start/weight-snapshots';
// After GRPO: confidence-compression layers, their stage, merging and removal.
export * from './compression/compression';
export * from './compression/compression-merge';
export * from './compression/compress-stage';
export * from './compression/remove-adapter-stage';
