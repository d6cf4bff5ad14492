import { z } from 'zod';

const TokenIdsSchema = z.union([z.number().int().nonnegative(), z.array(z.number().int().nonnegative())]);

/**
 * generation_config.json as transformers' GenerationConfig writes it: the fields emrl reads are
 * typed; everything else is kept as is (checkpoints write the file back unchanged).
 */
export const GenerationConfigSchema = z
  .object({
    bos_token_id: TokenIdsSchema.nullable().optional(),
    eos_token_id: TokenIdsSchema.nullable().optional().meta({ description: 'one id or a list; generation stops at any of them' }),
    pad_token_id: TokenIdsSchema.nullable().optional(),
    do_sample: z.boolean().optional(),
    temperature: z.number().optional(),
    top_k: z.number().int().optional(),
    top_p: z.number().optional(),
    max_new_tokens: z.number().int().optional(),
    stop_strings: z.union([z.string(), z.array(z.string())]).nullable().optional().meta({ description: 'generation stops once the decoded completion contains one' }),
  })
  .loose();
export type GenerationConfig = z.infer<typeof GenerationConfigSchema>;

/** Parses generation_config.json content; the error names the file and the field. */
export function parseGenerationConfig(json: unknown, file: string): GenerationConfig {
  const parsed = GenerationConfigSchema.safeParse(json);
  if (!parsed.success) throw new Error(`${file}: invalid generation config: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** eos_token_id as a list (empty when absent or null). */
export function eosTokenIdsOf(gen: GenerationConfig | null): number[] {
  const v = gen?.eos_token_id;
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

/** stop_strings as a list (empty when absent or null). */
export function stopStringsOf(gen: GenerationConfig | null | undefined): string[] {
  const v = gen?.stop_strings;
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

/**
 * Token ids that end generation, as transformers decides: every eos id of generation_config.json,
 * plus config.json's and the tokenizer's eos (e.g. Qwen2.5 instruct stops on <|im_end|> and
 * <|endoftext|>, Llama 3 instruct on <|eot_id|> and <|end_of_text|>). Order: first seen first.
 */
export function unionStopTokenIds(...lists: readonly (readonly (number | null | undefined)[])[]): number[] {
  const out = new Set<number>();
  for (const l of lists) for (const id of l) if (id !== null && id !== undefined) out.add(id);
  return [...out];
}
