// Messages for task specs that fail their schema: unknown options get a did-you-mean, like the
// pipeline file's own keys (apps/pipeline config/did-you-mean.ts; a lib cannot import the app).
import type { z } from 'zod';

/** Edit distance (insert, delete, substitute each cost 1). */
function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur.push(Math.min(prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1), prev[j]! + 1, cur[j - 1]! + 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** The closest known option when it is a plausible typo (case-insensitive, distance <= max(1, len/3)). */
export function closestOption(input: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDist = Infinity;
  for (const k of known) {
    const d = levenshtein(input.toLowerCase(), k.toLowerCase());
    if (d < bestDist) [best, bestDist] = [k, d];
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
        const guess = closestOption(key, known);
        out.push(`${at === '' ? '' : `${at}.`}${key}: unknown option${guess ? ` (did you mean "${guess}"?)` : ''}; known options: ${known.join(', ')}`);
      }
    } else out.push(`${at === '' ? '(spec)' : at}: ${issue.message}`);
  }
  return out;
}
