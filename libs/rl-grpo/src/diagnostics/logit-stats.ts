// Logit statistics over response positions, every figure named with its scope.
//
// The one-shot EM paper (arXiv 2505.20282) reports that EM raises the skewness of the logit
// distribution and RL lowers it, but its measurement scope is ambiguous (raw vs temperature-scaled,
// full vocabulary vs top-k, per position vs pooled). We compute all of them:
//   skewness/{per_position_mean|pooled}/{full_vocab|top_k}/{raw_logits|logprobs_at_tau}
// Skewness is Fisher-Pearson g1 = m3 / m2^1.5 with biased central moments (scipy.stats.skew,
// bias=True). Non-finite values are dropped (and zeros too with dropZeros, like the reference
// measurement). Note: per position, logprobs_at_tau = z/tau - const is an affine map of the raw
// logits, so its skewness equals the raw one (up to dropped values); pooled, the per-position
// shift differs, so the two pooled figures differ.
//
// Heavy work (softmax, top-k, per-row moments) runs in tfjs over row chunks of the masked
// positions (bounded memory for V ~ 150k); the per-row moments are merged in JS doubles with the
// parallel central-moment update (Chan et al. 1979; Pebay 2008), so pooled figures need no second pass.
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';

export const LogitStatsConfigSchema = z.object({
  /** Temperature for the "at tau" scopes (entropy, max prob, log-probs): p = softmax(z / tau). */
  temperature: z.number().positive().default(1),
  /** k for the top_k scopes (clamped to the vocabulary size). */
  topK: z.number().int().min(2).default(50),
  /** Also drop exact zeros from the moment scopes (the paper's script dropped them). */
  dropZeros: z.boolean().default(false),
  /** Histogram of the pooled raw logits: `bins` equal-width bins over [min, max]. */
  histogram: z
    .object({ min: z.number(), max: z.number(), bins: z.number().int().min(1) })
    .refine((h) => h.max > h.min, { message: 'histogram.max must be greater than histogram.min' })
    .default({ min: -40, max: 40, bins: 160 }),
  /** Upper bound on elements per tfjs chunk (rows x V); ~15 float32 temporaries of this size live at once. */
  chunkElements: z.number().int().positive().default(1 << 20),
});
export type LogitStatsConfig = z.infer<typeof LogitStatsConfigSchema>;

export interface LogitStatsInput extends Partial<LogitStatsConfig> {
  /** Raw logits (no temperature) [B, T, V]. */
  logits: tf.Tensor3D;
  /** 1 where logits[b, t] predicts a response token [B, T] (tensor or nested array). */
  mask: tf.Tensor2D | readonly (readonly number[])[];
}

export const SKEW_POOLINGS = ['per_position_mean', 'pooled'] as const;
export const SKEW_SUPPORTS = ['full_vocab', 'top_k'] as const;
export const SKEW_VALUES = ['raw_logits', 'logprobs_at_tau'] as const;

/** Every figure name `logitStatistics` emits, in order. */
export const LOGIT_STAT_NAMES: readonly string[] = [
  'entropy/per_position_mean',
  'max_prob/mean',
  'top1_top2_gap/mean',
  'top1_zscore/mean',
  'logit_mean/mean',
  'logit_std/mean',
  ...SKEW_POOLINGS.flatMap((p) => SKEW_SUPPORTS.flatMap((s) => SKEW_VALUES.map((v) => `skewness/${p}/${s}/${v}`))),
];

export interface LogitHistogram {
  scope: 'pooled/full_vocab/raw_logits';
  min: number;
  max: number;
  /** bins + 1 edges; bin i is [edges[i], edges[i+1]), the last bin includes max. */
  edges: number[];
  counts: number[];
  underflow: number;
  overflow: number;
  /** Values kept by the raw_logits filter (finite, and non-zero with dropZeros), incl. under/overflow. */
  total: number;
}

export interface LogitStatistics {
  /** Named figures; null when undefined (no positions, or zero variance everywhere). */
  figures: Record<string, number | null>;
  /** The same figures per sequence that has at least one masked position. */
  perSequence: ({ sequence: number; positions: number } & Record<string, number | null>)[];
  histogram: LogitHistogram;
  meta: {
    positions: number;
    sequences: number;
    vocabSize: number;
    temperature: number;
    topK: number;
    dropZeros: boolean;
    /** Values dropped as non-finite (or zero) per value scope, full vocabulary. */
    droppedValues: { raw_logits: number; logprobs_at_tau: number };
  };
}

// ---------------------------------------------------------------------------------------------
// Moments in JS doubles
// ---------------------------------------------------------------------------------------------

/** Count, mean and central sums M2 = sum (x - mean)^2, M3 = sum (x - mean)^3. */
export interface Moments {
  n: number;
  mean: number;
  m2sum: number;
  m3sum: number;
}

const EMPTY: Moments = { n: 0, mean: 0, m2sum: 0, m3sum: 0 };

/** Merge two moment sets exactly (Pebay 2008, eq. 2.1 / 2.2 for p = 2, 3). */
export function mergeMoments(a: Moments, b: Moments): Moments {
  if (a.n === 0) return b;
  if (b.n === 0) return a;
  const n = a.n + b.n;
  const d = b.mean - a.mean;
  const m2sum = a.m2sum + b.m2sum + (d * d * a.n * b.n) / n;
  const m3sum = a.m3sum + b.m3sum + (d * d * d * a.n * b.n * (a.n - b.n)) / (n * n) + (3 * d * (a.n * b.m2sum - b.n * a.m2sum)) / n;
  return { n, mean: a.mean + (d * b.n) / n, m2sum, m3sum };
}

/**
 * g1 from moments; NaN when n = 0 or the variance is zero relative to the mean (scipy returns
 * NaN there too). `resolution` is the relative precision of the inputs (1e-6 for float32 rows).
 */
export function skewnessFromMoments(m: Moments, resolution = 1e-15): number {
  if (m.n === 0) return Number.NaN;
  const m2 = m.m2sum / m.n;
  const m3 = m.m3sum / m.n;
  if (m2 <= (resolution * Math.max(Math.abs(m.mean), Number.MIN_VALUE)) ** 2 || m2 === 0) return Number.NaN;
  return m3 / m2 ** 1.5;
}

/**
 * Fisher-Pearson skewness g1 = m3 / m2^1.5 with biased moments (scipy.stats.skew, bias=True),
 * in doubles, two-pass. Non-finite values are dropped; NaN for fewer than one value or zero variance.
 */
export function skewness(values: Float32Array | Float64Array | readonly number[]): number {
  let n = 0;
  let s = 0;
  for (const v of values) {
    if (Number.isFinite(v)) {
      n++;
      s += v;
    }
  }
  if (n === 0) return Number.NaN;
  const mean = s / n;
  let m2sum = 0;
  let m3sum = 0;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    const d = v - mean;
    m2sum += d * d;
    m3sum += d * d * d;
  }
  return skewnessFromMoments({ n, mean, m2sum, m3sum });
}

// ---------------------------------------------------------------------------------------------
// Per-row statistics in tfjs
// ---------------------------------------------------------------------------------------------

/** Per-row [count, mean, M2, M3] over the entries where `valid` holds. x, valid: [n, V] -> [n, 4]. */
function rowMoments(x: tf.Tensor2D, valid: tf.Tensor2D): tf.Tensor2D {
  const validF = tf.cast(valid, 'float32'); // [n, V]
  const xz = tf.where(valid, x, tf.zerosLike(x)); // [n, V] non-finite -> 0 (a multiply would give NaN)
  const cnt = tf.sum(validF, 1, true); // [n, 1]
  const mean = tf.div(tf.sum(xz, 1, true), tf.maximum(cnt, 1)); // [n, 1]
  const d = tf.mul(tf.sub(xz, mean), validF); // [n, V]
  const d2 = tf.square(d);
  return tf.concat([cnt, mean, tf.sum(d2, 1, true), tf.sum(tf.mul(d2, d), 1, true)], 1) as tf.Tensor2D; // [n, 4]
}

/** rowMoments when every entry is valid (no select, which is slow on wasm). */
function denseRowMoments(x: tf.Tensor2D): tf.Tensor2D {
  const mean = tf.mean(x, 1, true); // [n, 1]
  const d = tf.sub(x, mean); // [n, V]
  const d2 = tf.square(d);
  const cnt = tf.fill(mean.shape, x.shape[1]);
  return tf.concat([cnt, mean, tf.sum(d2, 1, true), tf.sum(tf.mul(d2, d), 1, true)], 1) as tf.Tensor2D; // [n, 4]
}

function validMask(x: tf.Tensor2D, dropZeros: boolean): tf.Tensor2D {
  const finite = tf.isFinite(x);
  return (dropZeros ? tf.logicalAnd(finite, tf.notEqual(x, 0)) : finite) as tf.Tensor2D;
}

/** Per-row numbers downloaded from one chunk. */
interface RowStats {
  raw: Moments;
  logprob: Moments;
  topRaw: Moments;
  topLogprob: Moments;
  entropy: number;
  maxProb: number;
  top1: number;
  top2: number;
}

type ChunkTensors = {
  /** Which z entries the raw scopes keep; undefined = all (fast path). */
  rawValid: tf.Tensor2D | undefined;
  raw: tf.Tensor2D;
  /** undefined on the fast path: the log-prob moments follow from the raw ones (affine map). */
  logprob: tf.Tensor2D | undefined;
  topRaw: tf.Tensor2D;
  topLogprob: tf.Tensor2D;
  lse: tf.Tensor;
  entropy: tf.Tensor;
  maxProb: tf.Tensor;
  top1: tf.Tensor;
  top2: tf.Tensor;
};

/** Per-row statistics of one chunk of logit rows z [n, V]. Call inside tf.tidy. */
function chunkStats(z: tf.Tensor2D, tau: number, k: number, dropZeros: boolean): ChunkTensors {
  const n = z.shape[0];
  const zt = tf.div(z, tau) as tf.Tensor2D; // [n, V]
  const top = tf.topk(z, k, true).values as tf.Tensor2D; // [n, k]
  const rest = {
    top1: tf.slice(top, [0, 0], [-1, 1]),
    top2: k > 1 ? tf.slice(top, [0, 1], [-1, 1]) : tf.fill([n, 1], Number.NaN),
    topRaw: rowMoments(top, validMask(top, dropZeros)),
  };
  const allFinite = !dropZeros && tf.all(tf.isFinite(z)).dataSync()[0] === 1;
  if (allFinite) {
    // One exp over [n, V]; H = log S - sum(e * s) / S with s = z' - max, e = exp(s), S = sum e.
    const mx = tf.max(zt, 1, true); // [n, 1]
    const sh = tf.sub(zt, mx); // [n, V]
    const e = tf.exp(sh);
    const se = tf.sum(e, 1, true); // [n, 1]
    const logSe = tf.log(se);
    const lse = tf.add(mx, logSe); // [n, 1]
    const topLp = tf.sub(tf.div(top, tau), lse) as tf.Tensor2D; // [n, k]
    return {
      ...rest,
      rawValid: undefined,
      raw: denseRowMoments(z),
      logprob: undefined,
      topLogprob: rowMoments(topLp, validMask(topLp, dropZeros)),
      lse,
      entropy: tf.sub(logSe, tf.div(tf.sum(tf.mul(e, sh), 1, true), se)),
      maxProb: tf.div(1, se), // exp(max - lse)
    };
  }
  const lse = tf.logSumExp(zt, 1, true); // [n, 1]
  const lp = tf.sub(zt, lse) as tf.Tensor2D; // [n, V] log_softmax(z / tau)
  const p = tf.exp(lp);
  const plogp = tf.where(tf.greater(p, 0), tf.mul(p, lp), tf.zerosLike(p)); // 0 * -inf -> 0
  const topLp = tf.sub(tf.div(top, tau), lse) as tf.Tensor2D; // [n, k]
  const rawValid = validMask(z, dropZeros);
  return {
    ...rest,
    rawValid,
    raw: rowMoments(z, rawValid),
    logprob: rowMoments(lp, validMask(lp, dropZeros)),
    topLogprob: rowMoments(topLp, validMask(topLp, dropZeros)),
    lse,
    entropy: tf.neg(tf.sum(plogp, 1)),
    maxProb: tf.exp(tf.sub(tf.max(zt, 1, true), lse)),
  };
}

function momentsAt(data: Float32Array | Int32Array | Uint8Array, r: number): Moments {
  return { n: data[4 * r]!, mean: data[4 * r + 1]!, m2sum: data[4 * r + 2]!, m3sum: data[4 * r + 3]! };
}

// ---------------------------------------------------------------------------------------------
// Figures from a set of rows (whole batch or one sequence)
// ---------------------------------------------------------------------------------------------

const F32_RES = 1e-6;

function meanFinite(xs: readonly number[]): number | null {
  let s = 0;
  let n = 0;
  for (const x of xs) {
    if (Number.isFinite(x)) {
      s += x;
      n++;
    }
  }
  return n > 0 ? s / n : null;
}

function finiteOrNull(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

function figuresOf(rows: readonly RowStats[]): Record<string, number | null> {
  const f: Record<string, number | null> = {};
  f['entropy/per_position_mean'] = meanFinite(rows.map((r) => r.entropy));
  f['max_prob/mean'] = meanFinite(rows.map((r) => r.maxProb));
  f['top1_top2_gap/mean'] = meanFinite(rows.map((r) => r.top1 - r.top2));
  const std = (m: Moments): number => Math.sqrt(m.m2sum / m.n);
  f['top1_zscore/mean'] = meanFinite(rows.map((r) => (r.top1 - r.raw.mean) / std(r.raw)));
  f['logit_mean/mean'] = meanFinite(rows.map((r) => (r.raw.n > 0 ? r.raw.mean : Number.NaN)));
  f['logit_std/mean'] = meanFinite(rows.map((r) => std(r.raw)));
  const pick: Record<string, (r: RowStats) => Moments> = {
    'full_vocab/raw_logits': (r) => r.raw,
    'full_vocab/logprobs_at_tau': (r) => r.logprob,
    'top_k/raw_logits': (r) => r.topRaw,
    'top_k/logprobs_at_tau': (r) => r.topLogprob,
  };
  for (const p of SKEW_POOLINGS) {
    for (const s of SKEW_SUPPORTS) {
      for (const v of SKEW_VALUES) {
        const get = pick[`${s}/${v}`]!;
        f[`skewness/${p}/${s}/${v}`] =
          p === 'per_position_mean'
            ? meanFinite(rows.map((r) => skewnessFromMoments(get(r), F32_RES)))
            : finiteOrNull(skewnessFromMoments(rows.map(get).reduce(mergeMoments, EMPTY), F32_RES));
      }
    }
  }
  return f;
}

function maskRows(mask: LogitStatsInput['mask'], B: number, T: number): Float32Array | number[] {
  if (mask instanceof tf.Tensor) {
    if (mask.shape[0] !== B || mask.shape[1] !== T) {
      throw new Error(`logit-stats.ts: mask has shape [${mask.shape}] but logits are [${B}, ${T}, V]; pass a [B, T] mask`);
    }
    return mask.dataSync() as Float32Array;
  }
  if (mask.length !== B || mask.some((row) => row.length !== T)) {
    throw new Error(`logit-stats.ts: mask must be ${B} rows of ${T} entries to match logits [${B}, ${T}, V]`);
  }
  return mask.flat();
}

/** Histogram of raw logits over fixed bins, with under- and overflow counts. */
class HistogramCounter {
  readonly counts: number[];
  underflow = 0;
  overflow = 0;
  total = 0;

  constructor(private readonly h: { min: number; max: number; bins: number }) {
    this.counts = new Array<number>(h.bins).fill(0);
  }

  /** Counts the values of `z` (where `valid`, when given, is non-zero). */
  add(z: ArrayLike<number>, valid?: ArrayLike<number>): void {
    const { min, max, bins } = this.h;
    const width = (max - min) / bins;
    for (let i = 0; i < z.length; i++) {
      if (valid && !valid[i]) continue;
      const x = z[i]!;
      this.total++;
      if (x < min) this.underflow++;
      else if (x > max) this.overflow++;
      else this.counts[Math.min(bins - 1, Math.floor((x - min) / width))]! += 1;
    }
  }

  toJSON(): LogitStatistics['histogram'] {
    const { min, max, bins } = this.h;
    return {
      scope: 'pooled/full_vocab/raw_logits',
      min,
      max,
      edges: Array.from({ length: bins + 1 }, (_, i) => min + ((max - min) * i) / bins),
      counts: this.counts,
      underflow: this.underflow,
      overflow: this.overflow,
      total: this.total,
    };
  }
}

type ChunkOut = ReturnType<typeof chunkStats>;

/** The per-position statistics of one downloaded chunk (`n` positions). */
function rowsOfChunk(out: ChunkOut, n: number, tau: number): RowStats[] {
  const raw = out.raw.dataSync();
  const logprob = out.logprob?.dataSync();
  const topRaw = out.topRaw.dataSync();
  const topLogprob = out.topLogprob.dataSync();
  const lse = out.lse.dataSync();
  const entropy = out.entropy.dataSync();
  const maxProb = out.maxProb.dataSync();
  const top1 = out.top1.dataSync();
  const top2 = out.top2.dataSync();
  const rows: RowStats[] = [];
  for (let r = 0; r < n; r++) {
    const rawM = momentsAt(raw, r);
    rows.push({
      raw: rawM,
      // log_softmax(z / tau) = z / tau - lse: moments of an affine map of the row.
      logprob: logprob ? momentsAt(logprob, r) : { n: rawM.n, mean: rawM.mean / tau - lse[r]!, m2sum: rawM.m2sum / tau ** 2, m3sum: rawM.m3sum / tau ** 3 },
      topRaw: momentsAt(topRaw, r),
      topLogprob: momentsAt(topLogprob, r),
      entropy: entropy[r]!,
      maxProb: maxProb[r]!,
      top1: top1[r]!,
      top2: top2[r]!,
    });
  }
  return rows;
}

/**
 * Where the logit rows come from: `rows(idx)` returns the raw logits [idx.length, V] of the flat
 * positions idx (b * T + t), a new tensor the caller disposes. Whole logits gather them; a model
 * can compute them from its hidden states a chunk at a time (logit-probe.ts), so [B, T, V] never
 * exists whole.
 */
export interface LogitRowSource {
  batch: number;
  seqLen: number;
  vocabSize: number;
  rows(idx: readonly number[]): tf.Tensor2D;
  /**
   * Positions to ask `rows` for at once (default: one statistics chunk). A source whose rows cost
   * a fixed overhead per call (the head's matmul) asks for more; the statistics still run on
   * chunkElements-sized slices of them.
   */
  blockRows?: number;
}

/** A row source over logits already computed [B, T, V] (they stay the caller's). */
export function logitsRowSource(logits: tf.Tensor3D): LogitRowSource & { dispose(): void } {
  if (logits.rank !== 3) {
    throw new Error(`logit-stats.ts: logits must be [B, T, V], got shape [${logits.shape}]`);
  }
  const [B, T, V] = logits.shape;
  const flat = tf.reshape(logits, [B * T, V]) as tf.Tensor2D; // [B*T, V] (a view)
  return {
    batch: B,
    seqLen: T,
    vocabSize: V,
    rows: (idx) => tf.tidy(() => tf.gather(flat, tf.tensor1d([...idx], 'int32')) as tf.Tensor2D), // [n, V]
    dispose: () => flat.dispose(),
  };
}

/**
 * Logit statistics over the masked positions of `logits` [B, T, V] (see the file header for the
 * scopes; `describeScope(name)` gives each figure's sentence for reports).
 */
export function logitStatistics(input: LogitStatsInput): LogitStatistics {
  const { logits, ...rest } = input;
  const source = logitsRowSource(logits);
  try {
    return logitStatisticsOfRows({ ...rest, source });
  } finally {
    source.dispose();
  }
}

export interface LogitRowsStatsInput extends Partial<LogitStatsConfig> {
  source: LogitRowSource;
  /** 1 where row (b, t) predicts a response token [B, T] (tensor or nested array). */
  mask: LogitStatsInput['mask'];
}

/**
 * logitStatistics over a row source: each chunk of at most `chunkElements` logits is reduced to
 * its per-position statistics (and histogram counts) and freed before the next is asked for.
 */
export function logitStatisticsOfRows(input: LogitRowsStatsInput): LogitStatistics {
  const cfg = LogitStatsConfigSchema.parse({
    temperature: input.temperature,
    topK: input.topK,
    dropZeros: input.dropZeros,
    histogram: input.histogram,
    chunkElements: input.chunkElements,
  });
  const { batch: B, seqLen: T, vocabSize: V } = input.source;
  const maskData = maskRows(input.mask, B, T);
  const positions: number[] = [];
  for (let i = 0; i < B * T; i++) if (maskData[i]! > 0) positions.push(i);
  const k = Math.min(cfg.topK, V);
  const tau = cfg.temperature;
  const histogram = new HistogramCounter(cfg.histogram);
  const dropped = { raw_logits: 0, logprobs_at_tau: 0 };

  const rows: RowStats[] = [];
  const chunkRows = Math.max(1, Math.floor(cfg.chunkElements / V));
  const blockRows = Math.max(chunkRows, input.source.blockRows ?? chunkRows);
  const addChunk = (z: tf.Tensor2D, n: number): void => {
    const out = tf.tidy(() => chunkStats(z, tau, k, cfg.dropZeros));
    try {
      for (const row of rowsOfChunk(out, n, tau)) {
        dropped.raw_logits += V - row.raw.n;
        dropped.logprobs_at_tau += V - row.logprob.n;
        rows.push(row);
      }
      // Histogram of the kept raw logits, counted in JS (chunk-sized download).
      histogram.add(z.dataSync(), out.rawValid?.dataSync());
    } finally {
      for (const t of Object.values(out) as (tf.Tensor | undefined)[]) t?.dispose();
    }
  };
  for (let start = 0; start < positions.length; start += blockRows) {
    const idx = positions.slice(start, start + blockRows);
    const block = input.source.rows(idx); // [nb, V]
    try {
      if (block.shape[0] !== idx.length || block.shape[1] !== V) {
        throw new Error(`logit-stats.ts: the row source gave [${block.shape}] for ${idx.length} positions of vocabulary ${V}`);
      }
      for (let off = 0; off < idx.length; off += chunkRows) {
        const n = Math.min(chunkRows, idx.length - off);
        if (n === idx.length) {
          addChunk(block, n);
          continue;
        }
        const z = tf.slice(block, [off, 0], [n, V]) as tf.Tensor2D; // [n, V]
        try {
          addChunk(z, n);
        } finally {
          z.dispose();
        }
      }
    } finally {
      block.dispose();
    }
  }

  const perSequence: LogitStatistics['perSequence'] = [];
  for (let b = 0; b < B; b++) {
    const seqRows = rows.filter((_, i) => Math.floor(positions[i]! / T) === b);
    if (seqRows.length > 0) perSequence.push({ sequence: b, positions: seqRows.length, ...figuresOf(seqRows) });
  }
  return {
    figures: figuresOf(rows),
    perSequence,
    histogram: histogram.toJSON(),
    meta: { positions: positions.length, sequences: perSequence.length, vocabSize: V, temperature: tau, topK: k, dropZeros: cfg.dropZeros, droppedValues: dropped },
  };
}

// ---------------------------------------------------------------------------------------------
// Human sentences for reports
// ---------------------------------------------------------------------------------------------

const FIXED: Record<string, string> = {
  'entropy/per_position_mean':
    'Shannon entropy (nats) of softmax(z / tau) over the full vocabulary at each response position, averaged over positions.',
  'max_prob/mean': 'Largest token probability of softmax(z / tau) at each response position, averaged over positions.',
  'top1_top2_gap/mean': 'Difference between the largest and second-largest raw logit at each response position, averaged over positions.',
  'top1_zscore/mean':
    'z-score of the largest raw logit, (top1 - mean) / std over the full vocabulary (population std), at each response position, averaged over positions.',
  'logit_mean/mean': 'Mean of the raw logits over the full vocabulary at each response position, averaged over positions.',
  'logit_std/mean': 'Standard deviation (population) of the raw logits over the full vocabulary at each response position, averaged over positions.',
};

/** A sentence saying exactly what a figure from `logitStatistics` measures. */
export function describeScope(name: string): string {
  const fixed = FIXED[name];
  if (fixed) return fixed;
  const m = /^skewness\/(per_position_mean|pooled)\/(full_vocab|top_k)\/(raw_logits|logprobs_at_tau)$/.exec(name);
  if (!m) {
    throw new Error(`logit-stats.ts: describeScope: unknown figure "${name}"; use one of LOGIT_STAT_NAMES`);
  }
  const [, pooling, support, values] = m;
  const what = values === 'raw_logits' ? 'the raw logits z' : 'the log-probabilities log_softmax(z / tau)';
  const over = support === 'full_vocab' ? 'over the full vocabulary' : 'over the top-k entries (k largest logits)';
  const how =
    pooling === 'per_position_mean'
      ? `computed ${over} separately at each response position and averaged over positions`
      : `computed once over all values pooled from every response position (${over} at each position)`;
  return `Fisher-Pearson skewness g1 = m3 / m2^1.5 (biased moments, as scipy.stats.skew) of ${what}, ${how}; non-finite values dropped.`;
}
