// @emrl/lm public API: tensors and models. Knows nothing of RL.
export * from './backend';
