import { seededRandom } from '@emrl/lm';

/**
 * Seeded randomness for task generation. Tasks must be reproducible from their config alone, so
 * every stream is a pure function of (seed, purpose); nothing here touches Math.random.
 */

/** A uniform [0, 1) stream plus the few draws task generators need. */
export interface TaskRng {
  next(): number;
  /** Integer in [0, n). */
  int(n: number): number;
  /** Integer in [lo, hi] (inclusive). */
  range(lo: number, hi: number): number;
  pick<T>(items: readonly T[]): T;
  bernoulli(p: number): boolean;
}

/** FNV-1a of the parts mixed with the seed (splitmix32 finalizer): independent streams per purpose. */
export function taskSeed(seed: number, ...parts: (string | number)[]): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (const part of parts) {
    const s = String(part);
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    h ^= 0x1f;
    h = Math.imul(h, 0x01000193);
  }
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** lm's mulberry32 stream: tiny, fast, good enough for sampling problems (not for cryptography). */
export function createTaskRng(seed: number, ...parts: (string | number)[]): TaskRng {
  const next = seededRandom(parts.length > 0 ? taskSeed(seed, ...parts) : seed >>> 0);
  const int = (n: number): number => Math.floor(next() * n);
  return {
    next,
    int,
    range: (lo, hi) => lo + int(hi - lo + 1),
    pick: <T>(items: readonly T[]): T => {
      if (items.length === 0) throw new Error('TaskRng.pick: cannot pick from an empty list');
      return items[int(items.length)] as T;
    },
    bernoulli: (p) => next() < p,
  };
}
