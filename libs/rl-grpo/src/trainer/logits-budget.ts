import { z } from 'zod';

/**
 * The `logitsBudgetMiB` option of the training stages (em, grpo, compress) and of the boundary
 * diagnostics: how many MiB of float32 logits one piece of work may hold. Whole logits [B, T, V]
 * up to a quarter of it are computed as before; larger ones a chunk of positions at a time
 * (issue #11: a 151,936 vocabulary). Absent: 32 MiB (lm's DEFAULT_LOGITS_CHUNK_BYTES).
 */
export const LogitsBudgetMiBSchema = z
  .number()
  .positive()
  .optional()
  .meta({
    description:
      'MiB of float32 logits one chunk may hold (default 32). Whole [batch, positions, vocab] logits up to a quarter of it are computed at once, larger ones a chunk of positions at a time; compress: the frozen logits must fit in it.',
  });

/** logitsBudgetMiB -> bytes (undefined stays undefined: the library default). */
export function logitsBudgetBytes(mib: number | undefined): number | undefined {
  return mib === undefined ? undefined : Math.max(1, Math.floor(mib * 2 ** 20));
}
