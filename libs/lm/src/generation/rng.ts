/**
 * Seeded PRNG in plain JS (xoshiro128**, seeded through splitmix32) so sampling and weight init
 * give the same numbers on every tfjs backend. Not cryptographic.
 */
export interface Rng {
  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number;
  /** Uniform in [0, 1) with 32 bits of resolution. */
  nextFloat(): number;
  /** Standard normal (Box-Muller). */
  nextNormal(): number;
}

/** splitmix32 step: a good mixer for turning one seed into several state words. */
export function splitmix32(state: number): { value: number; state: number } {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z ^= z >>> 16;
  return { value: z >>> 0, state: next };
}

/** FNV-1a hash of a string, for deriving per-name seeds (e.g. one stream per weight tensor). */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Combines a seed with extra integers (row index, name hash) into a new 32-bit seed. */
export function deriveSeed(seed: number, ...parts: number[]): number {
  let s = seed | 0;
  let out = splitmix32(s);
  for (const p of parts) {
    s = (out.value ^ (p | 0)) | 0;
    out = splitmix32(s);
  }
  return out.value;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** xoshiro128** generator. The same seed gives the same sequence everywhere. */
export function createRng(seed: number): Rng {
  let sm = seed | 0;
  const words: number[] = [];
  for (let i = 0; i < 4; i++) {
    const r = splitmix32(sm);
    sm = r.state;
    words.push(r.value | 0);
  }
  let [a, b, c, d] = words as [number, number, number, number];
  if ((a | b | c | d) === 0) a = 1; // the all-zero state is a fixed point
  let spare: number | null = null;

  const nextUint32 = (): number => {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9);
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result >>> 0;
  };
  const nextFloat = (): number => nextUint32() / 4294967296;
  const nextNormal = (): number => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const u1 = (nextUint32() + 1) / 4294967297; // (0, 1): log is finite
    const u2 = nextFloat();
    const r = Math.sqrt(-2 * Math.log(u1));
    spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  };
  return { nextUint32, nextFloat, nextNormal };
}

/**
 * mulberry32: a small seeded uniform [0, 1) stream -- the one PRNG the other libs build on (task
 * splits, prompt choice, tie-breaks, inits). Generation sampling uses createRng above.
 */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
