import { seededRandom } from '@emrl/lm';

/** Seeded uniform stream for tie-breaks and initializations (lm's mulberry32). */
export const mulberry32 = seededRandom;

/** Standard normal draws (Box-Muller) from a seeded uniform stream. */
export function gaussian(rand: () => number): () => number {
  return () => {
    const u = Math.max(rand(), 1e-12);
    const v = rand();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}
