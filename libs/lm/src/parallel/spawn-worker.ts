import { Worker } from 'node:worker_threads';

/**
 * Starts a worker thread on `entry`. From TypeScript sources (tsx, vitest) the thread registers
 * tsx's ESM loader first: worker threads do not inherit the parent's loader hooks.
 */
export function spawnWorker(entry: URL): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry);
  const code = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(code, { eval: true });
}
