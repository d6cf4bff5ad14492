import { z } from 'zod';
import type { Task, TaskExample } from '@emrl/rl-grpo';
import { mulberry32 } from '../shared/rng';

/**
 * One-shot prompt selection by accuracy variance (arXiv 2505.20282, section "Data selection"):
 * sample k responses per labeled candidate, p = fraction correct, Var = p (1 - p); pick the
 * prompts with the largest variance. The paper's selection code was never released.
 *
 * Ties: at k = 16 many prompts sit at p = 0.5. 'longer-responses' breaks ties toward prompts whose
 * sampled responses are longer (more reasoning to sharpen; a plain argmax tends to pick one-step
 * prompts that EM only memorizes, see docs embedded-lab.md), then by a seeded random key;
 * 'seed' uses the seeded key alone.
 */

export const SelectionTieBreakSchema = z.enum(['longer-responses', 'seed']);
export type SelectionTieBreak = z.infer<typeof SelectionTieBreakSchema>;

export const RankOptionsSchema = z.object({
  topN: z.number().int().positive().default(1),
  seed: z.number().int().default(0),
  tieBreak: SelectionTieBreakSchema.default('longer-responses'),
});
export type RankOptions = z.input<typeof RankOptionsSchema>;

export interface PromptRecord {
  id: string;
  prompt: string;
  /** Correctness of each of the k sampled responses. */
  correct: readonly boolean[];
  /** Length of each sampled response (tokens when the sampler reports them, else characters). */
  responseLengths: readonly number[];
}

export interface RankedPrompt {
  id: string;
  prompt: string;
  k: number;
  correctCount: number;
  /** Accuracy p = correctCount / k. */
  p: number;
  /** p (1 - p) (= the population variance of the 0/1 correctness). */
  variance: number;
  meanLength: number;
  /** 1-based rank after tie-breaking. */
  rank: number;
  /** How many other prompts share this prompt's variance. */
  tiedWith: number;
  /** The seeded random key used as the last tie-break (uniform in [0, 1)). */
  tieKey: number;
}

export interface Ranking {
  ranking: RankedPrompt[];
  selected: RankedPrompt[];
  tieBreak: SelectionTieBreak;
  seed: number;
  /** Human-readable reason for the first pick (goes into the stage's events/report). */
  explanation: string;
}

const VAR_EPS = 1e-12;

export function rankPromptsByVariance(records: readonly PromptRecord[], options: RankOptions = {}): Ranking {
  const opts = RankOptionsSchema.parse(options);
  const rand = mulberry32(opts.seed);
  const rows = records.map((r) => {
    if (r.correct.length === 0) {
      throw new Error(`em-plugin selection.ts: record "${r.id}" has no sampled responses (correct = []); sample k >= 1 responses per candidate`);
    }
    const k = r.correct.length;
    const correctCount = r.correct.filter(Boolean).length;
    const p = correctCount / k;
    const meanLength = r.responseLengths.length ? r.responseLengths.reduce((a, b) => a + b, 0) / r.responseLengths.length : 0;
    return { id: r.id, prompt: r.prompt, k, correctCount, p, variance: p * (1 - p), meanLength, rank: 0, tiedWith: 0, tieKey: rand() };
  });
  for (const row of rows) row.tiedWith = rows.filter((o) => o !== row && Math.abs(o.variance - row.variance) < VAR_EPS).length;
  rows.sort((a, b) => {
    if (Math.abs(a.variance - b.variance) >= VAR_EPS) return b.variance - a.variance;
    if (opts.tieBreak === 'longer-responses' && a.meanLength !== b.meanLength) return b.meanLength - a.meanLength;
    return a.tieKey - b.tieKey;
  });
  rows.forEach((row, i) => (row.rank = i + 1));
  const selected = rows.slice(0, opts.topN);
  const first = selected[0];
  const explanation = first
    ? `picked "${first.id}": p = ${first.p.toFixed(3)} (${first.correctCount}/${first.k}), variance ${first.variance.toFixed(4)}` +
      (first.tiedWith > 0
        ? `, tied with ${first.tiedWith} other prompt(s); tie broken by ${opts.tieBreak === 'longer-responses' ? `longer responses (mean ${first.meanLength.toFixed(1)}), then seed ${opts.seed}` : `seed ${opts.seed}`}`
        : '')
    : 'no candidates';
  return { ranking: rows, selected, tieBreak: opts.tieBreak, seed: opts.seed, explanation };
}

/** What an injected sampler returns: completions per prompt, optionally with token counts. */
export type SamplerOutput = string[][] | { completions: string[][]; tokenCounts?: number[][] };

/** Samples k completions for each prompt (the caller decides temperature, top-p, seed, batching). */
export type PromptSampler = (prompts: string[], k: number) => Promise<SamplerOutput>;

export interface SelectOneShotOptions extends RankOptions {
  sample: PromptSampler;
  task: Pick<Task, 'verify'>;
  candidates: readonly TaskExample[];
  /** Responses sampled per candidate. */
  k: number;
  /** Candidates per sampler call (default: all at once). */
  batchSize?: number;
  /** Called after each batch with the number of candidates done. */
  onProgress?: (done: number, total: number) => void;
}

export interface SelectionCost {
  /** Completions generated (= candidates x k). */
  generations: number;
  /** Completion tokens, when the sampler reported token counts for every batch. */
  tokens?: number;
  samplerCalls: number;
  /** Unit of responseLengths / meanLength. */
  lengthUnit: 'tokens' | 'characters';
}

export interface SelectionResult extends Ranking {
  records: PromptRecord[];
  cost: SelectionCost;
  k: number;
}

/** Samples, verifies with task.verify and ranks by variance; the sampler is injected. */
export async function selectOneShotPrompts(opts: SelectOneShotOptions): Promise<SelectionResult> {
  const { sample, task, candidates, k } = opts;
  if (!Number.isInteger(k) || k < 1) {
    throw new Error(`em-plugin selection.ts: k must be an integer >= 1 (responses per candidate), got ${k}`);
  }
  const batchSize = opts.batchSize ?? Math.max(candidates.length, 1);
  const records: PromptRecord[] = [];
  let generations = 0;
  let tokens = 0;
  let allTokenCounts = true;
  let samplerCalls = 0;
  for (let start = 0; start < candidates.length; start += batchSize) {
    const batch = candidates.slice(start, start + batchSize);
    const out = await sample(
      batch.map((c) => c.prompt),
      k,
    );
    samplerCalls += 1;
    const completions = Array.isArray(out) ? out : out.completions;
    const tokenCounts = Array.isArray(out) ? undefined : out.tokenCounts;
    if (completions.length !== batch.length) {
      throw new Error(`em-plugin selection.ts: sampler returned ${completions.length} groups for ${batch.length} prompts; return one array of k completions per prompt`);
    }
    if (!tokenCounts) allTokenCounts = false;
    batch.forEach((example, i) => {
      const group = completions[i]!;
      if (group.length !== k) {
        throw new Error(`em-plugin selection.ts: sampler returned ${group.length} completions for "${example.id}", expected k = ${k}`);
      }
      const lengths = tokenCounts?.[i] ?? group.map((c) => c.length);
      generations += group.length;
      if (tokenCounts) tokens += lengths.reduce((a, b) => a + b, 0);
      records.push({
        id: example.id,
        prompt: example.prompt,
        correct: group.map((c) => task.verify(c, example).correct),
        responseLengths: lengths,
      });
    });
    opts.onProgress?.(Math.min(start + batchSize, candidates.length), candidates.length);
  }
  const ranking = rankPromptsByVariance(records, { topN: opts.topN, seed: opts.seed, tieBreak: opts.tieBreak });
  const cost: SelectionCost = {
    generations,
    samplerCalls,
    lengthUnit: allTokenCounts && samplerCalls > 0 ? 'tokens' : 'characters',
    ...(allTokenCounts && samplerCalls > 0 ? { tokens } : {}),
  };
  return { ...ranking, records, cost, k };
}
