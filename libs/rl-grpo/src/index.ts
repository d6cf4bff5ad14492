// @emrl/rl-grpo public API: the host RL pipeline. Never imports em-plugin.
export * from './policy';
export * from './plugin';
export * from './stage';
export * from './tasks/task';
