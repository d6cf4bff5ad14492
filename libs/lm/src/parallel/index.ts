export * from './model-workers';
export * from './row-shares';
export type { WorkerForwardOptions } from './worker-protocol';
export * from './replica-variables';
