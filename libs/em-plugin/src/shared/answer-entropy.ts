/**
 * Answer-level (semantic) entropy over a group of completions of one prompt: the entropy of the
 * empirical distribution of extracted final answers (cf. EMPO, arXiv 2504.05812), and TTRL's
 * majority-vote agreement reward (arXiv 2504.16084). Answers are compared as exact strings, so
 * pass answers already normalized by the task's extractAnswer.
 */

export interface AnswerEntropyOptions {
  /** 'class': unparsable answers (null) form one class of their own; 'exclude': drop them. Default 'class'. */
  nulls?: 'class' | 'exclude';
  /** Logarithm base: 'e' (nats, default) or 2 (bits). */
  base?: 'e' | 2;
}

/** Counts of each answer, in first-seen order. Null answers are keyed as one class or dropped. */
export function answerCounts(answers: readonly (string | null)[], nulls: 'class' | 'exclude' = 'class'): Map<string | null, number> {
  const counts = new Map<string | null, number>();
  for (const a of answers) {
    if (a === null && nulls === 'exclude') continue;
    counts.set(a, (counts.get(a) ?? 0) + 1);
  }
  return counts;
}

/** Entropy of the empirical answer distribution; 0 when all answers agree or none are counted. */
export function answerEntropy(answers: readonly (string | null)[], opts: AnswerEntropyOptions = {}): number {
  const counts = answerCounts(answers, opts.nulls ?? 'class');
  let total = 0;
  for (const c of counts.values()) total += c;
  if (total === 0) return 0;
  let h = 0;
  for (const c of counts.values()) {
    const p = c / total;
    h -= p * Math.log(p);
  }
  return opts.base === 2 ? h / Math.LN2 : h;
}

/**
 * The most frequent non-null answer (ties: the one seen first), its count and share of all
 * answers, or null when no answer parsed.
 */
export function majorityAnswer(answers: readonly (string | null)[]): { answer: string; count: number; share: number } | null {
  let best: string | null = null;
  let bestCount = 0;
  for (const [a, c] of answerCounts(answers, 'exclude')) {
    if (a !== null && c > bestCount) {
      best = a;
      bestCount = c;
    }
  }
  return best === null ? null : { answer: best, count: bestCount, share: bestCount / answers.length };
}

/**
 * TTRL rewards (arXiv 2504.16084): 1 if a completion's answer equals the group's majority answer,
 * else 0 (null answers always 0; all zeros when no answer parsed).
 */
export function majorityAgreementRewards(answers: readonly (string | null)[]): number[] {
  const maj = majorityAnswer(answers);
  return answers.map((a) => (maj !== null && a === maj.answer ? 1 : 0));
}
