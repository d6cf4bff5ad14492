// Builds Hugging Face tokenizer.json documents for byte-level BPE tokenizers (the GPT-2 / Qwen2 family).
import { z } from 'zod';
import { BYTE_TO_UNICODE } from './bytes-to-unicode';

/** Qwen2's pre-tokenizer split (contractions, letters, single digits, punctuation runs, newlines, spaces). */
export const QWEN2_SPLIT_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

export interface ByteLevelBpeSpec {
  /** Merges in priority order, each a pair of byte-level token strings (e.g. ["Ġ", "t"]). */
  merges?: readonly (readonly [string, string])[];
  /** Special tokens appended after the vocabulary, in id order. */
  specials: readonly string[];
  /** Qwen2-style regex split before byte-level mapping; omit for GPT-2's built-in split. */
  splitPattern?: string;
}

/**
 * tokenizer.json for byte-level BPE: ids 0..255 are the bytes (id == byte value), then one id per
 * merge result in merge order, then the specials. Readable by `tokenizers` (Rust/Python) and
 * @huggingface/tokenizers alike.
 */
export function buildByteLevelBpeJson(spec: ByteLevelBpeSpec): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  BYTE_TO_UNICODE.forEach((c, b) => (vocab[c] = b));
  let next = 256;
  for (const [a, b] of spec.merges ?? []) {
    if (!(a in vocab) || !(b in vocab)) throw new Error(`merge "${a} ${b}": both parts must already be in the vocabulary`);
    if (!(a + b in vocab)) vocab[a + b] = next++;
  }
  const addedTokens = spec.specials.map((content, i) => ({
    id: next + i,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  const byteLevel = (useRegex: boolean) => ({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: useRegex });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: spec.splitPattern === undefined ? null : { type: 'NFC' },
    pre_tokenizer:
      spec.splitPattern === undefined
        ? byteLevel(true)
        : {
            type: 'Sequence',
            pretokenizers: [
              { type: 'Split', pattern: { Regex: spec.splitPattern }, behavior: 'Isolated', invert: false },
              byteLevel(false),
            ],
          },
    post_processor: byteLevel(false),
    decoder: byteLevel(false),
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: (spec.merges ?? []).map(([a, b]) => `${a} ${b}`),
    },
  };
}

const PlainByteLevelSchema = z
  .object({
    added_tokens: z.array(z.object({ id: z.number().int(), content: z.string() }).loose()).default([]),
    normalizer: z.null().optional(),
    model: z.object({ type: z.literal('BPE'), vocab: z.record(z.string(), z.number()), merges: z.array(z.unknown()).length(0) }).loose(),
  })
  .loose();

/**
 * If `json` is a byte-level BPE tokenizer.json with no merges whose ids 0..255 are the bytes and whose
 * added tokens follow at 256.., returns the added tokens in id order (our ByteTokenizer fast path).
 */
export function matchPlainByteLevel(json: unknown): string[] | null {
  const r = PlainByteLevelSchema.safeParse(json);
  if (!r.success) return null;
  const { vocab } = r.data.model;
  if (Object.keys(vocab).length !== 256) return null;
  for (let b = 0; b < 256; b++) if (vocab[BYTE_TO_UNICODE[b]!] !== b) return null;
  const added = [...r.data.added_tokens].sort((a, b) => a.id - b.id);
  if (!added.every((t, i) => t.id === 256 + i)) return null;
  return added.map((t) => t.content);
}
