import { z } from 'zod';

/**
 * What the diagnose function returns at every stage boundary (the `diagnostics` field of a
 * `diagnostics` event). The report reads exactly these fields; extra keys are kept and ignored.
 */
export const DiagnosticsRecordSchema = z.looseObject({
  /** Where the logit statistics come from, spelled out (arXiv 2505.20282 leaves it ambiguous). */
  scope: z.string().meta({ description: 'e.g. "sampled responses of 16 probe prompts at T=0.6, raw logits, full vocabulary"' }),
  accuracyByTemperature: z.array(
    z.object({ temperature: z.number().min(0), accuracy: z.number().min(0).max(1), samples: z.number().int().min(0) }),
  ),
  logitStats: z.looseObject({
    /** Fisher-Pearson g1 = m3 / m2^1.5 over the pooled logits of `scope`. */
    skewness: z.number(),
    /** Mean token entropy (nats) over response positions. */
    entropy: z.number(),
    maxProb: z.number().optional(),
    top1Top2Gap: z.number().optional(),
  }),
  calibration: z.looseObject({ ece: z.number(), brier: z.number() }),
  /** Histogram of the pooled logits of `scope`: counts[i] in [edges[i], edges[i+1]). */
  histogram: z
    .object({ edges: z.array(z.number()).min(2), counts: z.array(z.number().min(0)) })
    .refine((h) => h.edges.length === h.counts.length + 1, { message: 'histogram needs edges.length === counts.length + 1' }),
});
export type DiagnosticsRecord = z.infer<typeof DiagnosticsRecordSchema>;
