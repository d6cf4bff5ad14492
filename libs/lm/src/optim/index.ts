export * from './config';
export * from './schedule';
export * from './clip';
export * from './adamw';
