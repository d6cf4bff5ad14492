import { describe, expect, it } from 'vitest';
import { createRng } from './rng';
import { NonFiniteLogitsError, kthLargest, logSumExp, sampleToken } from './sampling';

const LOGITS = [2.0, 1.0, 0.5, 0.0, -1.0, -3.0];

function softmax(z: number[]): number[] {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

function frequencies(params: { temperature: number; topK: number; topP: number }, n = 40_000): number[] {
  const rng = createRng(11);
  const counts = new Array<number>(LOGITS.length).fill(0);
  for (let i = 0; i < n; i++) counts[sampleToken(LOGITS, params, rng).token]! += 1;
  return counts.map((c) => c / n);
}

describe('sampleToken', () => {
  it('greedy picks the argmax and reports the raw log-softmax', () => {
    const r = sampleToken(LOGITS, { temperature: 0, topK: 0, topP: 1 }, createRng(0));
    expect(r.token).toBe(0);
    expect(r.logprob).toBeCloseTo(2 - logSumExp(LOGITS), 10);
  });

  it('samples softmax(z / T) at temperature T', () => {
    const want = softmax(LOGITS.map((z) => z / 0.7));
    const got = frequencies({ temperature: 0.7, topK: 0, topP: 1 });
    got.forEach((f, i) => expect(Math.abs(f - want[i]!)).toBeLessThan(0.01));
  });

  it('top-k renormalizes over the k largest; the log-prob is under that distribution', () => {
    const want = softmax(LOGITS.slice(0, 3));
    const got = frequencies({ temperature: 1, topK: 3, topP: 1 });
    got.slice(0, 3).forEach((f, i) => expect(Math.abs(f - want[i]!)).toBeLessThan(0.01));
    expect(got.slice(3).every((f) => f === 0)).toBe(true);
    const r = sampleToken(LOGITS, { temperature: 1, topK: 3, topP: 1 }, createRng(5));
    expect(r.logprob).toBeCloseTo(Math.log(want[r.token]!), 10);
  });

  it('top-p keeps the smallest prefix whose mass reaches p (Hugging Face rule)', () => {
    const p = softmax(LOGITS); // [0.575, 0.211, 0.128, 0.078, 0.029, 0.004]
    // mass before token 2 is 0.786 < 0.8, so tokens 0..2 are kept; token 3 has 0.914 >= 0.8 before it.
    const kept = softmax(LOGITS.slice(0, 3));
    const got = frequencies({ temperature: 1, topK: 0, topP: 0.8 });
    expect(p[0]! + p[1]!).toBeLessThan(0.8);
    got.slice(0, 3).forEach((f, i) => expect(Math.abs(f - kept[i]!)).toBeLessThan(0.01));
    expect(got.slice(3).every((f) => f === 0)).toBe(true);
    // A tiny top-p keeps only the most likely token.
    expect(frequencies({ temperature: 1, topK: 0, topP: 0.01 }, 200)[0]).toBe(1);
  });

  it('applies top-k before top-p', () => {
    // top-k 2 -> softmax([2, 1]) = [0.731, 0.269]; top-p 0.7 then keeps only token 0.
    const got = frequencies({ temperature: 1, topK: 2, topP: 0.7 }, 500);
    expect(got[0]).toBe(1);
  });

  it('top-k 1 equals greedy', () => {
    const rng = createRng(3);
    for (let i = 0; i < 20; i++) expect(sampleToken(LOGITS, { temperature: 1.3, topK: 1, topP: 1 }, rng).token).toBe(0);
  });
});

describe('kthLargest', () => {
  it('equals the k-th value of a full descending sort, with many ties, for every k', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (const n of [1, 2, 5, 64, 257]) {
      for (const levels of [3, 1000]) {
        const row = Float32Array.from({ length: n }, () => Math.floor(rand() * levels) / 7 - 20);
        const desc = Array.from(row).sort((a, b) => b - a);
        for (let k = 1; k <= n; k++) expect(kthLargest(row, k)).toBe(desc[k - 1]);
      }
    }
  });

  it('rejects k outside 1..V', () => {
    expect(() => kthLargest([1, 2], 0)).toThrow(/1 <= k <= 2/);
    expect(() => kthLargest([1, 2], 3)).toThrow(/1 <= k <= 2/);
  });
});

describe('sampleToken refuses non-finite logits', () => {
  const params = [
    { temperature: 0, topK: 0, topP: 1 },
    { temperature: 1, topK: 0, topP: 1 },
    { temperature: 0.7, topK: 3, topP: 0.9 },
  ];
  it.each(params)('NaN anywhere throws NonFiniteLogitsError naming the step (%o)', (p) => {
    for (const at of [0, 2, 5]) {
      const row = [...LOGITS];
      row[at] = NaN;
      expect(() => sampleToken(row, p, createRng(1), { step: 4, row: 1 })).toThrow(NonFiniteLogitsError);
      expect(() => sampleToken(row, p, createRng(1), { step: 4, row: 1 })).toThrow(
        new RegExp(`non-finite logits at generation step 4, batch row 1: 1 of 6 logits are NaN or \\+Infinity \\(first: logit ${at} = NaN\\)`),
      );
    }
  });
  it('+Inf throws, and so does an all -Inf row', () => {
    expect(() => sampleToken([0, Infinity, 1], params[1]!, createRng(1), { step: 0 })).toThrow(/logit 1 = Infinity/);
    expect(() => sampleToken([-Infinity, -Infinity], params[0]!, createRng(1), { step: 3 })).toThrow(/step 3.*all 2 logits are -Infinity/);
  });
  it('-Inf entries are masked tokens: never drawn, the rest sampled as softmax over finite logits', () => {
    const row = [-Infinity, 1, -Infinity, 0, -Infinity];
    const rng = createRng(3);
    const counts = [0, 0, 0, 0, 0];
    const n = 20_000;
    for (let i = 0; i < n; i++) counts[sampleToken(row, params[1]!, rng).token]! += 1;
    expect(counts[0] + counts[2] + counts[4]).toBe(0);
    // p(token 1) = e / (e + 1) = 0.7311 independently; 4 sigma at n = 20k is 0.0126.
    expect(Math.abs(counts[1]! / n - Math.E / (Math.E + 1))).toBeLessThan(0.0126);
    expect(sampleToken(row, params[0]!, createRng(0)).token).toBe(1);
  });
  it('rejects a negative or NaN temperature', () => {
    expect(() => sampleToken(LOGITS, { temperature: -1, topK: 0, topP: 1 }, createRng(0))).toThrow(/temperature must be a finite number >= 0/);
    expect(() => sampleToken(LOGITS, { temperature: NaN, topK: 0, topP: 1 }, createRng(0))).toThrow(/temperature/);
  });
});
