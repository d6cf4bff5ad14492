// Evaluation metrics over sampled answers: pass@k, maj@k, calibration (ECE, Brier) and two
// answer-confidence definitions. Plain JS doubles; no tensors.

// ---------------------------------------------------------------------------------------------
// pass@k
// ---------------------------------------------------------------------------------------------

/**
 * Unbiased pass@k from n samples of which c are correct (Chen et al., arXiv 2107.03374):
 *   pass@k = 1 - C(n - c, k) / C(n, k) = 1 - prod_{i = n-c+1}^{n} (1 - k / i)
 * The product form avoids huge binomials. Returns 1 when n - c < k (every k-subset has a hit).
 */
export function passAtK(n: number, c: number, k: number): number {
  if (!Number.isInteger(n) || !Number.isInteger(c) || !Number.isInteger(k) || n < 1 || k < 1 || c < 0 || c > n || k > n) {
    throw new Error(`eval/metrics.ts: passAtK needs integers 0 <= c <= n and 1 <= k <= n, got n=${n}, c=${c}, k=${k}`);
  }
  if (n - c < k) return 1;
  let prod = 1;
  for (let i = n - c + 1; i <= n; i++) prod *= 1 - k / i;
  return 1 - prod;
}

/** Mean pass@k over problems, each given as (n samples, c correct). */
export function meanPassAtK(problems: readonly { n: number; c: number }[], k: number): number {
  if (problems.length === 0) throw new Error('eval/metrics.ts: meanPassAtK got no problems; pass at least one { n, c }');
  let s = 0;
  for (const p of problems) s += passAtK(p.n, p.c, k);
  return s / problems.length;
}

// ---------------------------------------------------------------------------------------------
// Majority vote / maj@k
// ---------------------------------------------------------------------------------------------

export interface MajorityVote {
  /** The winning answer, or null when every answer was null. */
  answer: string | null;
  /** Votes for the winner. */
  count: number;
  /** Non-null answers that voted. */
  voters: number;
  /** All samples, including null answers. */
  samples: number;
  /** Other answers with the same count as the winner (the tie was broken in the winner's favour). */
  tiedWith: string[];
}

/**
 * Majority vote over extracted answers. Null answers (nothing extracted) do not vote.
 * Ties go to the answer that appears FIRST in `answers` (sample order), which is deterministic
 * for a given sampling seed and matches Python's Counter.most_common.
 */
export function majorityVote(answers: readonly (string | null)[]): MajorityVote {
  const counts = new Map<string, number>(); // insertion order = first appearance
  for (const a of answers) if (a !== null) counts.set(a, (counts.get(a) ?? 0) + 1);
  let answer: string | null = null;
  let count = 0;
  for (const [a, n] of counts) {
    if (n > count) {
      answer = a;
      count = n;
    }
  }
  const tiedWith = [...counts].filter(([a, n]) => n === count && a !== answer).map(([a]) => a);
  let voters = 0;
  for (const n of counts.values()) voters += n;
  return { answer, count, voters, samples: answers.length, tiedWith };
}

/**
 * maj@k for one problem: 1 if the majority answer of the first k samples is correct, else 0
 * (0 when no sample produced an answer). `isCorrect` defaults to exact string equality with `gold`.
 */
export function majAtK(
  answers: readonly (string | null)[],
  gold: string,
  k: number = answers.length,
  isCorrect: (answer: string, gold: string) => boolean = (a, g) => a === g,
): number {
  if (!Number.isInteger(k) || k < 1 || k > answers.length) {
    throw new Error(`eval/metrics.ts: majAtK needs 1 <= k <= answers.length (${answers.length}), got k=${k}`);
  }
  const vote = majorityVote(answers.slice(0, k));
  return vote.answer !== null && isCorrect(vote.answer, gold) ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// Calibration
// ---------------------------------------------------------------------------------------------

export interface ConfidencePair {
  /** Stated / derived confidence in [0, 1]. */
  confidence: number;
  /** Whether the answer was right. */
  correct: boolean | 0 | 1;
}

export interface CalibrationBin {
  lo: number;
  hi: number;
  count: number;
  /** Mean confidence and accuracy of the pairs in the bin (NaN for an empty bin). */
  meanConfidence: number;
  accuracy: number;
}

export interface CalibrationReport {
  /** Expected calibration error: sum_b (n_b / N) |acc_b - conf_b|. */
  ece: number;
  /** Brier score: mean (confidence - correct)^2. */
  brier: number;
  bins: CalibrationBin[];
  n: number;
}

function checkPairs(pairs: readonly ConfidencePair[], fn: string): void {
  if (pairs.length === 0) throw new Error(`eval/metrics.ts: ${fn} got no (confidence, correct) pairs`);
  pairs.forEach((p, i) => {
    if (!(p.confidence >= 0 && p.confidence <= 1)) {
      throw new Error(`eval/metrics.ts: ${fn}: pairs[${i}].confidence = ${p.confidence} is outside [0, 1]; pass a probability`);
    }
  });
}

/**
 * Expected calibration error with `numBins` equal-width bins over [0, 1]. Bin b holds
 * confidences in [b/numBins, (b+1)/numBins); confidence 1 goes to the last bin. Each bin's gap
 * |accuracy - mean confidence| is weighted by its share of the pairs; empty bins contribute 0.
 */
export function calibration(pairs: readonly ConfidencePair[], numBins = 10): CalibrationReport {
  checkPairs(pairs, 'calibration');
  if (!Number.isInteger(numBins) || numBins < 1) {
    throw new Error(`eval/metrics.ts: calibration numBins must be a positive integer, got ${numBins}`);
  }
  const sumConf = new Array<number>(numBins).fill(0);
  const sumCorrect = new Array<number>(numBins).fill(0);
  const count = new Array<number>(numBins).fill(0);
  for (const p of pairs) {
    const b = Math.min(numBins - 1, Math.floor(p.confidence * numBins));
    sumConf[b]! += p.confidence;
    sumCorrect[b]! += p.correct ? 1 : 0;
    count[b]! += 1;
  }
  const n = pairs.length;
  let ece = 0;
  const bins: CalibrationBin[] = [];
  for (let b = 0; b < numBins; b++) {
    const c = count[b]!;
    const meanConfidence = c > 0 ? sumConf[b]! / c : Number.NaN;
    const accuracy = c > 0 ? sumCorrect[b]! / c : Number.NaN;
    if (c > 0) ece += (c / n) * Math.abs(accuracy - meanConfidence);
    bins.push({ lo: b / numBins, hi: (b + 1) / numBins, count: c, meanConfidence, accuracy });
  }
  return { ece, brier: brierScore(pairs), bins, n };
}

/** ECE alone (see `calibration`). */
export function expectedCalibrationError(pairs: readonly ConfidencePair[], numBins = 10): number {
  return calibration(pairs, numBins).ece;
}

/** Brier score: mean over pairs of (confidence - correct)^2; 0 is perfect, 0.25 is always-0.5. */
export function brierScore(pairs: readonly ConfidencePair[]): number {
  checkPairs(pairs, 'brierScore');
  let s = 0;
  for (const p of pairs) {
    const y = p.correct ? 1 : 0;
    s += (p.confidence - y) * (p.confidence - y);
  }
  return s / pairs.length;
}

// ---------------------------------------------------------------------------------------------
// Answer confidence (what calibration is measured against)
// ---------------------------------------------------------------------------------------------
//
// Two definitions, so reports can name which one a figure uses:
// (a) "sample-consistency": draw k samples, extract answers, take the majority answer (ties to
//     the first seen, null answers never win); confidence = (#samples whose answer equals it) / k,
//     where k counts ALL samples, including those with no extractable answer. It measures how
//     consistently the model produces its chosen answer (self-consistency, arXiv 2203.11171).
// (b) "sequence-probability": for one sampled response, confidence = exp(mean over the answer
//     span's tokens of log p(token)), i.e. the geometric-mean token probability of the answer
//     span, under whatever temperature the log-probs were computed at (record it).

export type AnswerConfidenceMethod = 'sample-consistency' | 'sequence-probability';

export interface AnswerConfidence {
  answer: string | null;
  confidence: number;
  method: AnswerConfidenceMethod;
}

/** Definition (a): the majority answer of k samples and the fraction of the k that agree with it. */
export function sampleConsistencyConfidence(answers: readonly (string | null)[]): AnswerConfidence {
  if (answers.length === 0) throw new Error('eval/metrics.ts: sampleConsistencyConfidence got no samples; pass k >= 1 answers');
  const vote = majorityVote(answers);
  return { answer: vote.answer, confidence: vote.count / answers.length, method: 'sample-consistency' };
}

/** Definition (b): exp(mean log-prob) over the answer span's token log-probs. */
export function sequenceProbabilityConfidence(answerTokenLogprobs: readonly number[], answer: string | null = null): AnswerConfidence {
  if (answerTokenLogprobs.length === 0) {
    throw new Error('eval/metrics.ts: sequenceProbabilityConfidence got an empty answer span; pass the log-probs of the answer tokens');
  }
  let s = 0;
  for (const lp of answerTokenLogprobs) {
    if (!(lp <= 0)) throw new Error(`eval/metrics.ts: sequenceProbabilityConfidence: log-prob ${lp} is not <= 0`);
    s += lp;
  }
  return { answer, confidence: Math.exp(s / answerTokenLogprobs.length), method: 'sequence-probability' };
}

/** Either definition by name, so callers can take the method from a config. */
export function answerConfidence(
  input:
    | { method: 'sample-consistency'; answers: readonly (string | null)[] }
    | { method: 'sequence-probability'; answerTokenLogprobs: readonly number[]; answer?: string | null },
): AnswerConfidence {
  return input.method === 'sample-consistency'
    ? sampleConsistencyConfidence(input.answers)
    : sequenceProbabilityConfidence(input.answerTokenLogprobs, input.answer ?? null);
}
