export * from './pack-batch';
export * from './token-stats';
export * from './masked';
export * from './head-token-stats';
