/**
 * Stop strings on the decoded text, as transformers' `stop_strings` (StopStringCriteria) does: a
 * row ends once its completion's text contains one of the strings, whatever tokens spell it
 * (a multi-token string such as "\n\nProblem:" or "</answer>", or a string inside a longer token).
 */
export interface StopStrings {
  strings: readonly string[];
  /** The tokenizer's decode (token ids -> text). */
  decode: (ids: number[]) => string;
}

/**
 * Tokens decoded per check: a string of L UTF-16 units spans at most 4L bytes, so at most 4L tokens
 * (every token spells at least one byte), plus the newest token, which may hold extra text.
 */
function tailLength(strings: readonly string[]): number {
  return 4 * Math.max(0, ...strings.map((s) => s.length)) + 2;
}

/** Checks one row after each new token: only a match that ends in the newest tokens is new. */
export class StopStringMatcher {
  private readonly strings: string[];
  private readonly tail: number;

  constructor(private readonly stops: StopStrings) {
    this.strings = stops.strings.filter((s) => s.length > 0);
    this.tail = tailLength(this.strings);
  }

  get active(): boolean {
    return this.strings.length > 0;
  }

  /** True when the text of `tokens` (a row's completion so far) contains a stop string. */
  matches(tokens: readonly number[]): boolean {
    if (this.strings.length === 0 || tokens.length === 0) return false;
    const text = this.stops.decode(tokens.slice(Math.max(0, tokens.length - this.tail)));
    return this.strings.some((s) => text.includes(s));
  }
}

/** `text` up to and including the first stop string in it (unchanged when it holds none). */
export function cutAtStopString(text: string, strings: readonly string[]): string {
  let end = -1;
  for (const s of strings) {
    if (s.length === 0) continue;
    const i = text.indexOf(s);
    if (i >= 0 && (end < 0 || i + s.length < end)) end = i + s.length;
  }
  return end < 0 ? text : text.slice(0, end);
}
