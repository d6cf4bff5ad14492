/**
 * Deterministic seed derivation: every random stream of a run is a pure function of the run seed
 * and a path (stage id, step, purpose), so a resumed run draws exactly what an uninterrupted one would.
 */
export function streamSeed(seed: number, ...parts: (string | number)[]): number {
  // FNV-1a over the parts, mixed with the seed through a splitmix32 finalizer.
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (const part of parts) {
    const s = String(part);
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    h ^= 0x2f;
    h = Math.imul(h, 0x01000193);
  }
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Small seeded PRNG (mulberry32) for choosing prompts; returns floats in [0, 1). */
export function makeRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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
