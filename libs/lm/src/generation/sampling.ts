import type { Rng } from './rng';

/** Sampling knobs, applied in the Hugging Face order: temperature, then top-k, then top-p. */
export interface SamplingParams {
  /** 0 = greedy (argmax). */
  temperature: number;
  /** Keep the k highest logits (ties at the k-th value are kept); 0 = off. */
  topK: number;
  /** Nucleus sampling (arXiv 1904.09751): smallest set whose mass reaches topP; 1 = off. */
  topP: number;
}

export interface SampledToken {
  token: number;
  /** Log-probability of the token under the distribution it was drawn from (greedy: raw log-softmax). */
  logprob: number;
}

/** Where in a generation a logits row came from, for error messages. */
export interface SamplingSite {
  /** 0-based generation step (new token index). */
  step?: number;
  /** Batch row. */
  row?: number;
}

/**
 * Logits a token cannot be drawn from: NaN or +Inf anywhere, or every value -Inf. NaN compares
 * false with everything, so without this check argmax and the sampling loop silently return the
 * first or the last vocabulary id (issue 12: a diverged model then "answers" with token V-1).
 */
export class NonFiniteLogitsError extends Error {
  override readonly name = 'NonFiniteLogitsError';
  constructor(
    readonly site: SamplingSite,
    readonly index: number,
    readonly value: number,
    readonly count: number,
    readonly vocabSize: number,
  ) {
    const where = `generation step ${site.step ?? '?'}${site.row === undefined ? '' : `, batch row ${site.row}`}`;
    const what =
      index < 0
        ? `all ${vocabSize} logits are -Infinity`
        : `${count} of ${vocabSize} logits are NaN or +Infinity (first: logit ${index} = ${value})`;
    super(`non-finite logits at ${where}: ${what}; the model weights (or a logits adapter) produce non-finite values, so no token can be sampled`);
  }
}

/** Throws NonFiniteLogitsError unless `row` has no NaN / +Inf and at least one value above -Inf. One pass. */
export function assertSampleableLogits(row: ArrayLike<number>, site: SamplingSite = {}): void {
  let count = 0;
  let first = -1;
  let anyAboveNegInf = false;
  for (let i = 0; i < row.length; i++) {
    const z = row[i] as number;
    if (z > -Infinity && z < Infinity) anyAboveNegInf = true;
    else if (z !== -Infinity) {
      // NaN or +Inf
      if (count === 0) first = i;
      count++;
    }
  }
  if (count > 0) throw new NonFiniteLogitsError(site, first, row[first] as number, count, row.length);
  if (!anyAboveNegInf) throw new NonFiniteLogitsError(site, -1, -Infinity, row.length, row.length);
}

/** Index of the largest value (first one on ties). */
export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if ((row[i] as number) > (row[best] as number)) best = i;
  return best;
}

/** log(sum(exp(row))), stable. */
export function logSumExp(row: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < row.length; i++) m = Math.max(m, row[i] as number);
  if (m === -Infinity) return -Infinity;
  let s = 0;
  for (let i = 0; i < row.length; i++) s += Math.exp((row[i] as number) - m);
  return m + Math.log(s);
}

/**
 * The k-th largest value of `row` (k = 1 is the maximum) in expected O(V): quickselect with a
 * median-of-three pivot and a three-way partition (many equal logits stay linear). Replaces a full
 * O(V log V) sort per sampled token, which dominates top-k sampling for 150k-token vocabularies.
 */
export function kthLargest(row: ArrayLike<number>, k: number): number {
  const n = row.length;
  if (!Number.isInteger(k) || k < 1 || k > n) throw new Error(`sampling.ts: kthLargest needs 1 <= k <= ${n}, got ${k}`);
  const a = Float64Array.from(row);
  const target = n - k; // index in ascending order
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const x = a[lo] as number;
    const y = a[mid] as number;
    const z = a[hi] as number;
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y;
    // Dutch national flag: [lo, lt) < pivot, [lt, i) == pivot, (gt, hi] > pivot.
    let lt = lo;
    let gt = hi;
    let i = lo;
    while (i <= gt) {
      const v = a[i] as number;
      if (v < pivot) {
        a[i] = a[lt] as number;
        a[lt++] = v;
        i++;
      } else if (v > pivot) {
        a[i] = a[gt] as number;
        a[gt--] = v;
      } else i++;
    }
    if (target < lt) hi = lt - 1;
    else if (target > gt) lo = gt + 1;
    else return pivot;
  }
  return a[target] as number;
}

/** Threshold below which a token's relative probability is too small to matter for top-p pruning. */
const TOP_P_PRUNE = 1e-7;

/**
 * Draws one token from a logits row [V] in plain JS (reproducible on every backend).
 * Greedy when temperature is 0. Non-finite logits (NaN, +Inf, all -Inf) throw NonFiniteLogitsError
 * naming `site`; -Inf entries alone are masked tokens and never drawn.
 */
export function sampleToken(row: ArrayLike<number>, params: SamplingParams, rng: Rng, site: SamplingSite = {}): SampledToken {
  const v = row.length;
  if (!(params.temperature >= 0) || !Number.isFinite(params.temperature)) {
    throw new Error(`sampleToken: temperature must be a finite number >= 0 (0 = greedy), got ${params.temperature}`);
  }
  assertSampleableLogits(row, site);
  if (params.temperature === 0) {
    const token = argmax(row);
    return { token, logprob: (row[token] as number) - logSumExp(row) };
  }
  const invT = 1 / params.temperature;
  // top-k: keep z >= k-th largest z.
  let kth = -Infinity;
  if (params.topK > 0 && params.topK < v) {
    kth = kthLargest(row, params.topK) * invT;
  }
  let max = -Infinity;
  for (let i = 0; i < v; i++) max = Math.max(max, (row[i] as number) * invT);
  if (max === Infinity) {
    throw new Error(`sampleToken: logits / temperature overflow float64 at temperature ${params.temperature}${site.step === undefined ? '' : ` (generation step ${site.step})`}; use a larger temperature or 0 for greedy`);
  }
  // Unnormalized probabilities of the kept tokens.
  let idx: number[] = [];
  let w: number[] = [];
  let total = 0;
  for (let i = 0; i < v; i++) {
    const z = (row[i] as number) * invT;
    if (z < kth) continue;
    const e = Math.exp(z - max);
    idx.push(i);
    w.push(e);
    total += e;
  }
  if (params.topP < 1) ({ idx, w, total } = nucleus(idx, w, total, params.topP));
  let u = rng.nextFloat() * total;
  // Fallback for rounding (u never went below 0): the last token with positive weight, never a masked -Inf one.
  let pick = idx.length - 1;
  while (pick > 0 && (w[pick] as number) === 0) pick--;
  for (let j = 0; j < idx.length; j++) {
    u -= w[j] as number;
    if (u < 0) {
      pick = j;
      break;
    }
  }
  return { token: idx[pick] as number, logprob: Math.log((w[pick] as number) / total) };
}

/**
 * Keeps tokens in descending probability while the mass before them is < topP (at least one).
 * Tokens with relative weight < TOP_P_PRUNE are skipped from the sort when the rest already reaches
 * topP: they come after every larger token, so they could not be kept anyway.
 */
function nucleus(idx: number[], w: number[], total: number, topP: number): { idx: number[]; w: number[]; total: number } {
  let order: number[] = [];
  let mass = 0;
  for (let j = 0; j < idx.length; j++) {
    if ((w[j] as number) >= TOP_P_PRUNE) {
      order.push(j);
      mass += w[j] as number;
    }
  }
  if (mass / total < topP) order = idx.map((_, j) => j);
  order.sort((a, b) => (w[b] as number) - (w[a] as number) || (idx[a] as number) - (idx[b] as number));
  const keptIdx: number[] = [];
  const keptW: number[] = [];
  let before = 0;
  for (const j of order) {
    if (keptIdx.length > 0 && before / total >= topP) break;
    keptIdx.push(idx[j] as number);
    keptW.push(w[j] as number);
    before += w[j] as number;
  }
  return { idx: keptIdx, w: keptW, total: before };
}
