import { seededRandom } from '@emrl/lm';
import { taskSeed } from './tasks/rng';

/**
 * Deterministic seed derivation: every random stream of a run is a pure function of the run seed
 * and a path (stage id, step, purpose), so a resumed run draws exactly what an uninterrupted one would.
 */
export const streamSeed: (seed: number, ...parts: (string | number)[]) => number = taskSeed;

/** Small seeded PRNG (lm's mulberry32) for choosing prompts; returns floats in [0, 1). */
export const makeRandom: (seed: number) => () => number = seededRandom;

/** k distinct indices from [0, n) (or with replacement when k > n). */
export function sampleIndices(n: number, k: number, rand: () => number): number[] {
  if (k > n) return Array.from({ length: k }, () => Math.floor(rand() * n));
  const idx = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rand() * (n - i));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  return idx.slice(0, k);
}
