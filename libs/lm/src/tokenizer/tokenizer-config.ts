// The parts of Hugging Face tokenizer_config.json that emrl uses.
import { z } from 'zod';

const TokenSpecSchema = z.union([z.string(), z.object({ content: z.string() }).loose(), z.null()]);

export const TokenizerConfigSchema = z
  .object({
    bos_token: TokenSpecSchema.optional(),
    eos_token: TokenSpecSchema.optional(),
    pad_token: TokenSpecSchema.optional(),
    unk_token: TokenSpecSchema.optional(),
    chat_template: z
      .union([z.string(), z.array(z.object({ name: z.string(), template: z.string() }))])
      .nullable()
      .optional(),
  })
  .loose();
export type TokenizerConfig = z.infer<typeof TokenizerConfigSchema>;

/** The token string of a `bos_token`-style field (a string or an AddedToken object), or null. */
export function tokenContent(spec: z.infer<typeof TokenSpecSchema> | undefined): string | null {
  if (spec === undefined || spec === null) return null;
  return typeof spec === 'string' ? spec : spec.content;
}

/** The chat template to use: a plain string, or the entry named "default" of a named list. */
export function pickChatTemplate(cfg: TokenizerConfig): string | null {
  const t = cfg.chat_template;
  if (t === undefined || t === null) return null;
  if (typeof t === 'string') return t;
  return (t.find((e) => e.name === 'default') ?? t[0])?.template ?? null;
}

/** Parses tokenizer_config.json content; errors name the file and the field. */
export function parseTokenizerConfig(json: unknown, file: string): TokenizerConfig {
  const r = TokenizerConfigSchema.safeParse(json);
  if (!r.success) throw new Error(`${file}: invalid tokenizer config: ${z.prettifyError(r.error)}`);
  return r.data;
}
