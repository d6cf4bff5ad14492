// @emrl/lm public API: tensors and models. Knows nothing of RL.
export * from './backend';
// Contracts implemented by model/ and tokenizer/ (see docs/ARCHITECTURE.md).
export * from './tokenizer/tokenizer';
export * from './tokenizer/byte-tokenizer';
export * from './tokenizer/hf-tokenizer';
export * from './tokenizer/load-tokenizer';
export * from './tokenizer/chat-template';
export * from './tokenizer/bpe-json';
export * from './tokenizer/bytes-to-unicode';
export * from './tokenizer/tokenizer-config';
export * from './checkpoint/atomic';
export * from './checkpoint/errors';
export * from './checkpoint/dtype';
export * from './checkpoint/safetensors';
export * from './checkpoint/sharded';
export * from './checkpoint/tensors';
export * from './checkpoint/pretrained';
export * from './config';
export * from './model/causal-lm';
export * from './model/kv-cache';
export * from './model/logits-adapter';
export * from './model/weights';
export * from './generation/rng';
export * from './generation/sampling';
export * from './generation/generate';
