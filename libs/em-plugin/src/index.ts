// @emrl/em-plugin public API: everything EM, on rl-grpo's public API.
export * from './losses';
export * from './answer-entropy';
export * from './selection';
export * from './regularizer';
export * from './compression';
export * from './compression-merge';
export * from './compression-train';
export * from './early-stop';
export * from './heldout-signals';
export * from './weight-snapshots';
export * from './em-stage';
export * from './select-stage';
export * from './compress-stage';
export * from './register';
export * from './remove-adapter-stage';
export * from './label-free-rewards';
