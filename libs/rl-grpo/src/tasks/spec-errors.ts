// Messages for task specs that fail their schema: unknown options get a did-you-mean (the same one
// the pipeline file's keys get: apps/pipeline re-exports it).
import type { z } from 'zod';

/** Edit distance (insert, delete, substitute each cost 1) between two strings. */
export function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur.push(Math.min(prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1), prev[j]! + 1, cur[j - 1]! + 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/**
 * The closest candidate when it is close enough to be a plausible typo (distance at most
 * max(1, ceil(len/3)), case-insensitive), else undefined. The one did-you-mean of emrl (task
 * options here, pipeline keys and values in apps/pipeline).
 */
export function didYouMean(input: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDist = Infinity;
  for (const c of candidates) {
    const d = levenshtein(input.toLowerCase(), c.toLowerCase());
    if (d < bestDist) [best, bestDist] = [c, d];
  }
  return bestDist <= Math.max(1, Math.ceil(input.length / 3)) ? best : undefined;
}

/** Option names an object schema accepts (empty for non-object schemas). */
export function schemaKeys(schema: z.ZodType): string[] {
  const shape = (schema as unknown as { shape?: Record<string, unknown> }).shape;
  return shape ? Object.keys(shape) : [];
}

/** One line per issue: `testsize: unknown option (did you mean "testSize"?)`, `noise: Too big ...`. */
export function formatSpecIssues(issues: readonly z.core.$ZodIssue[], known: readonly string[]): string[] {
  const out: string[] = [];
  for (const issue of issues) {
    const at = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const guess = didYouMean(key, known);
        out.push(`${at === '' ? '' : `${at}.`}${key}: unknown option${guess ? ` (did you mean "${guess}"?)` : ''}; known options: ${known.join(', ')}`);
      }
    } else out.push(`${at === '' ? '(spec)' : at}: ${issue.message}`);
  }
  return out;
}
