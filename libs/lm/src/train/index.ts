export * from './cross-entropy';
export * from './batch-source';
export * from './train-causal-lm';
