// Strict UTF-8 for task files: Node's 'utf8' decoding replaces invalid bytes with U+FFFD without a
// word (issue 12), so a Latin-1 file silently became different prompts.

export interface InvalidUtf8 {
  /** Byte offset of the first byte of the bad sequence in the file. */
  offset: number;
  /** 1-based line and byte column (within the line) of that byte. */
  line: number;
  column: number;
  /** The bytes that could not be decoded (up to 4), as hex. */
  bytes: string;
}

/** Length of the valid UTF-8 sequence starting at `i`, or 0 when it is invalid (RFC 3629, table 3-7 of Unicode). */
function sequenceLength(b: Uint8Array, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => i + k < b.length && b[i + k]! >= lo && b[i + k]! <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0; // no overlongs
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0; // no UTF-16 surrogates
  if (c >= 0xe1 && c <= 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0; // <= U+10FFFF
  return 0;
}

/** The first invalid UTF-8 sequence of `bytes`, or null when all of it is valid UTF-8. */
export function findInvalidUtf8(bytes: Uint8Array): InvalidUtf8 | null {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < bytes.length; ) {
    const n = sequenceLength(bytes, i);
    if (n === 0) {
      const bad = [...bytes.subarray(i, Math.min(i + 4, bytes.length))].map((x) => x.toString(16).padStart(2, '0')).join(' ');
      return { offset: i, line, column: i - lineStart + 1, bytes: bad };
    }
    if (bytes[i] === 0x0a) {
      line++;
      lineStart = i + 1;
    }
    i += n;
  }
  return null;
}

/** Decodes UTF-8 (a leading BOM is dropped) or throws naming the file, line and byte offset of the first bad byte. */
export function decodeUtf8Strict(bytes: Uint8Array, file: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const bad = findInvalidUtf8(bytes);
    const where = bad ? `:${bad.line}: invalid UTF-8 at byte offset ${bad.offset} (byte ${bad.column} of the line: ${bad.bytes})` : ': invalid UTF-8';
    throw new Error(`${file}${where}; task files must be UTF-8: convert it (e.g. iconv -f latin1 -t utf-8) and try again`);
  }
}
