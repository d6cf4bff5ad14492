import * as tf from '@tensorflow/tfjs-core';
import { setupTestBackend } from '@emrl/lm/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { LOGIT_STAT_NAMES, describeScope, logitStatistics, mergeMoments, skewness, type LogitStatistics, type LogitStatsInput, type Moments } from './logit-stats';

beforeAll(async () => {
  await setupTestBackend();
});

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 2 ** 32;
  };
}

// ---- independent plain-JS reference (doubles, written without the module's helpers) ------------
function g1(xs: readonly number[]): number {
  const v = xs.filter((x) => Number.isFinite(x));
  const n = v.length;
  const m = v.reduce((a, b) => a + b, 0) / n;
  const m2 = v.reduce((a, b) => a + (b - m) ** 2, 0) / n;
  const m3 = v.reduce((a, b) => a + (b - m) ** 3, 0) / n;
  return m3 / m2 ** 1.5;
}
const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

function reference(rows: number[][], tau: number, k: number): Record<string, number> {
  const f = (name: string, v: number): [string, number] => [name, v];
  const per = rows.map((z) => {
    const fin = z.filter((x) => Number.isFinite(x));
    const zt = z.map((x) => x / tau);
    const mx = Math.max(...zt.filter((x) => Number.isFinite(x)));
    const lse = mx + Math.log(zt.reduce((a, x) => a + (Number.isFinite(x) ? Math.exp(x - mx) : 0), 0));
    const lp = zt.map((x) => x - lse);
    const ent = -lp.reduce((a, l) => a + (Number.isFinite(l) ? Math.exp(l) * l : 0), 0);
    const sorted = [...z].sort((a, b) => b - a);
    const top = sorted.slice(0, k);
    const mu = mean(fin);
    const sd = Math.sqrt(mean(fin.map((x) => (x - mu) ** 2)));
    return { z, lp, top, topLp: top.map((x) => x / tau - lse), ent, maxProb: Math.exp(Math.max(...lp)), mu, sd };
  });
  return Object.fromEntries([
    f('entropy/per_position_mean', mean(per.map((p) => p.ent))),
    f('max_prob/mean', mean(per.map((p) => p.maxProb))),
    f('top1_top2_gap/mean', mean(per.map((p) => p.top[0]! - p.top[1]!))),
    f('top1_zscore/mean', mean(per.map((p) => (p.top[0]! - p.mu) / p.sd))),
    f('logit_mean/mean', mean(per.map((p) => p.mu))),
    f('logit_std/mean', mean(per.map((p) => p.sd))),
    f('skewness/per_position_mean/full_vocab/raw_logits', mean(per.map((p) => g1(p.z)))),
    f('skewness/per_position_mean/full_vocab/logprobs_at_tau', mean(per.map((p) => g1(p.lp)))),
    f('skewness/per_position_mean/top_k/raw_logits', mean(per.map((p) => g1(p.top)))),
    f('skewness/per_position_mean/top_k/logprobs_at_tau', mean(per.map((p) => g1(p.topLp)))),
    f('skewness/pooled/full_vocab/raw_logits', g1(per.flatMap((p) => p.z))),
    f('skewness/pooled/full_vocab/logprobs_at_tau', g1(per.flatMap((p) => p.lp))),
    f('skewness/pooled/top_k/raw_logits', g1(per.flatMap((p) => p.top))),
    f('skewness/pooled/top_k/logprobs_at_tau', g1(per.flatMap((p) => p.topLp))),
  ]);
}

// ---- fixture: B = 3, T = 5, V = 37, skewed random logits, some -Infinity, garbage off-mask ------
const B = 3;
const T = 5;
const V = 37;
const MASK = [
  [0, 1, 1, 1, 0],
  [0, 0, 1, 1, 1],
  [1, 1, 0, 0, 0],
];
function fixture(seed: number, banned = true): Float32Array {
  const r = rng(seed);
  const data = new Float32Array(B * T * V);
  for (let i = 0; i < data.length; i++) {
    const pos = Math.floor(i / V);
    const b = Math.floor(pos / T);
    const t = pos % T;
    if (!MASK[b]![t]) data[i] = i % 3 === 0 ? Number.NaN : 1e4; // must be ignored
    else data[i] = -Math.log(r()) * 2 - 3 + (r() < 0.05 ? 6 : 0); // right-skewed with outliers
  }
  if (banned) {
    data[1 * V + 4] = Number.NEGATIVE_INFINITY; // masked-in position (0, 1): a banned token
    data[(2 * T + 1) * V + 10] = Number.NEGATIVE_INFINITY;
  }
  return data;
}
function maskedRows(data: Float32Array, b?: number): number[][] {
  const rows: number[][] = [];
  for (let pos = 0; pos < B * T; pos++) {
    const bb = Math.floor(pos / T);
    if (MASK[bb]![pos % T] && (b === undefined || b === bb)) rows.push(Array.from(data.subarray(pos * V, pos * V + V)));
  }
  return rows;
}
function stats(data: Float32Array, opts: Omit<LogitStatsInput, 'logits' | 'mask'>): LogitStatistics {
  const logits = tf.tensor3d(data, [B, T, V]);
  const mask = tf.tensor2d(MASK);
  try {
    return logitStatistics({ logits, mask, ...opts });
  } finally {
    tf.dispose([logits, mask]);
  }
}
function expectFigures(got: Record<string, number | null>, want: Record<string, number>): void {
  for (const [name, w] of Object.entries(want)) {
    const g = got[name];
    expect(g, name).not.toBeNull();
    expect(Math.abs(g! - w), `${name}: got ${g}, want ${w}`).toBeLessThan(2e-4 * Math.max(1, Math.abs(w)));
  }
}

describe('skewness (JS doubles)', () => {
  it('matches a hand computation and drops non-finite values', () => {
    // [1, 2, 3, 10]: mean 4, m2 = 50 / 4 = 12.5, m3 = 180 / 4 = 45, g1 = 45 / 12.5^1.5
    expect(skewness([1, 2, 3, 10])).toBeCloseTo(1.0182337649086284, 13);
    expect(skewness(new Float32Array([1, 2, Number.NaN, 3, Number.POSITIVE_INFINITY, 10]))).toBeCloseTo(1.0182337649086284, 13);
    expect(skewness([-2, -1, 0, 1, 2])).toBe(0);
    expect(skewness([4, 4, 4])).toBeNaN(); // zero variance, as scipy
  });

  it('exponential samples approach 2, uniform samples 0', () => {
    const r = rng(3);
    const expo = Array.from({ length: 200_000 }, () => -Math.log(r()));
    const unif = Array.from({ length: 200_000 }, () => r());
    expect(Math.abs(skewness(expo) - 2)).toBeLessThan(0.1);
    expect(Math.abs(skewness(unif))).toBeLessThan(0.02);
  });

  it('merged moments equal the moments of the concatenation', () => {
    const mom = (xs: number[]): Moments => {
      const m = mean(xs);
      return { n: xs.length, mean: m, m2sum: xs.reduce((a, x) => a + (x - m) ** 2, 0), m3sum: xs.reduce((a, x) => a + (x - m) ** 3, 0) };
    };
    const a = [1, 5, 2, 8];
    const b = [3, -4, 9];
    const merged = mergeMoments(mom(a), mom(b));
    const whole = mom([...a, ...b]);
    expect(merged.mean).toBeCloseTo(whole.mean, 12);
    expect(merged.m2sum).toBeCloseTo(whole.m2sum, 10);
    expect(merged.m3sum).toBeCloseTo(whole.m3sum, 9);
  });
});

describe('logitStatistics', () => {
  it('every scope matches an independent plain-JS computation (masked positions ignored)', () => {
    const data = fixture(1);
    const got = stats(data, { temperature: 0.6, topK: 5 });
    expect(Object.keys(got.figures)).toEqual([...LOGIT_STAT_NAMES]);
    expectFigures(got.figures, reference(maskedRows(data), 0.6, 5));
    expect(got.meta.positions).toBe(8);
    expect(got.meta.droppedValues.raw_logits).toBe(2);
    // pooled logprobs differ from pooled raw (per-position shifts); per position they coincide
    const f = got.figures;
    expect(f['skewness/per_position_mean/full_vocab/logprobs_at_tau']).toBeCloseTo(f['skewness/per_position_mean/full_vocab/raw_logits']!, 4);
    expect(Math.abs(f['skewness/pooled/full_vocab/logprobs_at_tau']! - f['skewness/pooled/full_vocab/raw_logits']!)).toBeGreaterThan(1e-3);
  });

  it('all-finite rows (fast path) match the same reference', () => {
    const data = fixture(8, false);
    const got = stats(data, { temperature: 0.6, topK: 5 });
    expectFigures(got.figures, reference(maskedRows(data), 0.6, 5));
    expect(got.meta.droppedValues).toEqual({ raw_logits: 0, logprobs_at_tau: 0 });
  });

  it('per-sequence summaries equal the figures of each sequence alone', () => {
    const data = fixture(2);
    const got = stats(data, { temperature: 1, topK: 4 });
    expect(got.perSequence.map((s) => [s.sequence, s.positions])).toEqual([
      [0, 3],
      [1, 3],
      [2, 2],
    ]);
    for (const s of got.perSequence) expectFigures(s, reference(maskedRows(data, s.sequence), 1, 4));
  });

  it('row chunking does not change any figure (chunks mix the finite and non-finite paths)', () => {
    const data = fixture(3);
    const whole = stats(data, { temperature: 0.5, topK: 6 });
    const chunked = stats(data, { temperature: 0.5, topK: 6, chunkElements: 2 * V });
    for (const name of LOGIT_STAT_NAMES) expect(chunked.figures[name]).toBeCloseTo(whole.figures[name]!, 5);
    expect(chunked.histogram).toEqual(whole.histogram);
  });

  it('per-position full-vocab skewness is invariant to positive scaling and shifting of the logits', () => {
    const data = fixture(4);
    const scaled = data.map((x, i) => (Number.isFinite(x) && MASK[Math.floor(i / V / T)]![Math.floor(i / V) % T] ? 3 * x + 5 : x));
    const a = stats(data, { topK: 5 }).figures;
    const b = stats(scaled, { topK: 5 }).figures;
    for (const scope of ['full_vocab/raw_logits', 'full_vocab/logprobs_at_tau', 'top_k/raw_logits']) {
      expect(b[`skewness/per_position_mean/${scope}`]).toBeCloseTo(a[`skewness/per_position_mean/${scope}`]!, 4);
    }
    expect(b['skewness/pooled/full_vocab/raw_logits']).toBeCloseTo(a['skewness/pooled/full_vocab/raw_logits']!, 4);
    expect(b['top1_zscore/mean']).toBeCloseTo(a['top1_zscore/mean']!, 4);
  });

  it('uniform logits: entropy log V, max prob 1 / V, skewness undefined (null)', () => {
    const data = new Float32Array(B * T * V).fill(0.25);
    const f = stats(data, { temperature: 0.7 }).figures;
    expect(f['entropy/per_position_mean']).toBeCloseTo(Math.log(V), 5);
    expect(f['max_prob/mean']).toBeCloseTo(1 / V, 6);
    expect(f['top1_top2_gap/mean']).toBe(0);
    expect(f['skewness/per_position_mean/full_vocab/raw_logits']).toBeNull();
    expect(f['skewness/pooled/full_vocab/raw_logits']).toBeNull();
  });

  it('histogram counts every kept pooled raw logit once', () => {
    const data = fixture(5);
    const h = stats(data, { histogram: { min: -3, max: 5, bins: 8 } }).histogram;
    const kept = maskedRows(data).flat().filter((x) => Number.isFinite(x));
    const want = new Array(8).fill(0);
    for (const x of kept) if (x >= -3 && x <= 5) want[Math.min(7, Math.floor(x + 3))]++;
    expect(h.counts).toEqual(want);
    expect(h.underflow).toBe(kept.filter((x) => x < -3).length);
    expect(h.overflow).toBe(kept.filter((x) => x > 5).length);
    expect(h.total).toBe(kept.length);
    expect(h.edges).toEqual([-3, -2, -1, 0, 1, 2, 3, 4, 5]);
  });

  it('dropZeros also removes exact zeros from the moment scopes', () => {
    const data = fixture(6);
    const pos = 1 * V; // (0, 1) is masked in
    for (let j = 0; j < 5; j++) data[pos + 20 + j] = 0;
    const f = stats(data, { dropZeros: true, topK: 5 });
    expect(f.meta.droppedValues.raw_logits).toBe(2 + 5);
    const rows = maskedRows(data).map((r) => r.map((x) => (x === 0 ? Number.NaN : x)));
    expect(f.figures['skewness/pooled/full_vocab/raw_logits']).toBeCloseTo(g1(rows.flat()), 4);
  });

  it('accepts a nested-array mask, rejects a mismatched one and leaks no tensors', () => {
    const logits = tf.tensor3d(fixture(7), [B, T, V]);
    const before = tf.memory().numTensors;
    const viaArray = logitStatistics({ logits, mask: MASK });
    expect(tf.memory().numTensors).toBe(before);
    expect(viaArray.meta.positions).toBe(8);
    expect(() => logitStatistics({ logits, mask: [[1]] })).toThrow(/mask must be 3 rows of 5/);
    logits.dispose();
  });
});

describe('describeScope', () => {
  it('has a sentence for every figure and names the scope', () => {
    for (const name of LOGIT_STAT_NAMES) expect(describeScope(name).length).toBeGreaterThan(40);
    const s = describeScope('skewness/pooled/top_k/logprobs_at_tau');
    expect(s).toMatch(/log_softmax\(z \/ tau\)/);
    expect(s).toMatch(/top-k/);
    expect(s).toMatch(/pooled/);
    expect(describeScope('skewness/per_position_mean/full_vocab/raw_logits')).toMatch(/raw logits.*full vocabulary.*each response position/);
    expect(() => describeScope('skewness/everything')).toThrow(/unknown figure/);
  });
});
