// @emrl/lm public API: tensors and models. Knows nothing of RL.
export * from './backend';
// Contracts implemented by model/ and tokenizer/ (see docs/ARCHITECTURE.md).
