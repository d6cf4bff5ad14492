// GPT-2's reversible byte <-> printable-character map used by byte-level BPE vocabularies
// (Radford et al. 2019): printable Latin-1 bytes map to themselves, the rest to U+0100 onwards.

function buildByteToUnicode(): string[] {
  const direct: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) direct.push(b); // '!'..'~'
  for (let b = 0xa1; b <= 0xac; b++) direct.push(b); // '¡'..'¬'
  for (let b = 0xae; b <= 0xff; b++) direct.push(b); // '®'..'ÿ'
  const isDirect = new Set(direct);
  const out: string[] = new Array(256);
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    out[b] = String.fromCodePoint(isDirect.has(b) ? b : 256 + shifted++);
  }
  return out;
}

/** BYTE_TO_UNICODE[b] is the vocabulary character for byte b. */
export const BYTE_TO_UNICODE: readonly string[] = buildByteToUnicode();
/** Inverse of BYTE_TO_UNICODE. */
export const UNICODE_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_UNICODE.map((c, b) => [c, b]));

/** Text -> its UTF-8 bytes written as byte-level BPE characters (e.g. " hi" -> "Ġhi"). */
export function textToByteLevel(text: string): string {
  return Array.from(new TextEncoder().encode(text), (b) => BYTE_TO_UNICODE[b]!).join('');
}
