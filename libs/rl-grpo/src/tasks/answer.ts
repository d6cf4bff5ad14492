/**
 * Final-answer extraction and comparison, the way math graders do it (MATH / Minerva-style
 * normalization: strip LaTeX wrappers, units and spacing, compare numerically when both sides are
 * numbers or closed forms such as \frac{\sqrt3}{2} or 2\pi; tuples, intervals and unions element by
 * element). Pure string code; no tensors.
 */
import { latexValue } from './latex-value';

/** Where a completion states its final answer. `auto` tries boxed, then hash, then a phrase. */
export type AnswerFormat = 'hash' | 'boxed' | 'auto';

/**
 * The built-in `#answer$` format: the completion is cut at its first `$` (the stop sequence) and
 * the answer is the text after the last `#` before it. No `$`, no `#` or an empty answer -> null.
 */
export function extractHashAnswer(completion: string): string | null {
  const stop = completion.indexOf('$');
  if (stop < 0) return null;
  const head = completion.slice(0, stop);
  const hash = head.lastIndexOf('#');
  if (hash < 0) return null;
  const answer = head.slice(hash + 1);
  return answer.length > 0 ? answer : null;
}

/** Reads a `{...}` group with nested braces starting at `open`; returns [content, indexAfter] or null. */
function readBraced(text: string, open: number): [string, number] | null {
  if (text[open] !== '{') return null;
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') {
      i++; // skip escaped char such as \{ or \}
      continue;
    }
    if (c === '{') depth++;
    else if (c === '}') {
      depth--;
      if (depth === 0) return [text.slice(open + 1, i), i + 1];
    }
  }
  return null; // unbalanced (e.g. a truncated completion)
}

/** Content of the LAST `\boxed{...}` (or `\fbox{...}`, `\boxed 5`), nested braces allowed. */
export function extractBoxedAnswer(completion: string): string | null {
  const re = /\\(?:boxed|fbox)/g;
  let last = -1;
  let lastLen = 0;
  for (let m = re.exec(completion); m !== null; m = re.exec(completion)) {
    last = m.index;
    lastLen = m[0].length;
  }
  if (last < 0) return null;
  let i = last + lastLen;
  if (completion[i] === '{') {
    const group = readBraced(completion, i);
    if (group === null) return null;
    const content = group[0].trim();
    return content.length > 0 ? content : null;
  }
  // `\boxed 5`: one space-separated token
  while (completion[i] === ' ') i++;
  const token = /^[^\s$]+/.exec(completion.slice(i));
  return token ? token[0] : null;
}

/** "The (final) answer is X", "Answer: X" (the last one); cut at the end of the line or sentence. */
export function extractPhraseAnswer(completion: string): string | null {
  const re = /answer\s*(?:is\s*:?|:)\s*/gi;
  let start = -1;
  for (let m = re.exec(completion); m !== null; m = re.exec(completion)) start = m.index + m[0].length;
  if (start < 0) return null;
  let rest = completion.slice(start).split('\n')[0] ?? '';
  const sentenceEnd = /\.(\s|$)/.exec(rest);
  if (sentenceEnd) rest = rest.slice(0, sentenceEnd.index);
  rest = rest.trim();
  return rest.length > 0 ? rest : null;
}

/** Extracts the final answer in the given format (see `AnswerFormat`). */
export function extractAnswer(completion: string, format: AnswerFormat = 'auto'): string | null {
  if (format === 'hash') return extractHashAnswer(completion);
  if (format === 'boxed') return extractBoxedAnswer(completion);
  const boxed = extractBoxedAnswer(completion);
  if (boxed !== null) return boxed;
  // In auto mode, only a tight `#12.8$` counts: markdown headers ("# Step 1 ... $x$") must not.
  const hash = extractHashAnswer(completion);
  if (hash !== null && /^\S+$/.test(hash)) return hash;
  return extractPhraseAnswer(completion);
}

/** A normalized answer: canonical text, its numeric value when it is a number, and a percent flag. */
export interface ParsedAnswer {
  text: string;
  value: number | null;
  percent: boolean;
}

// Words that mean the tail is not a unit ("3 and 4", "2 x").
const NOT_UNITS = new Set(['and', 'or', 'to', 'x', 'y', 'z', 'n', 'i', 'e', 'pi', 'sqrt', 'plus', 'minus', 'times', 'over']);

/** Replaces `\cmd{arg}` by ` arg ` (keeping nested braces) for text-like commands. */
function unwrapCommand(s: string, names: readonly string[]): string {
  const re = new RegExp(`\\\\(?:${names.join('|')})\\s*(?=\\{)`, 'g');
  let out = s;
  for (let m = re.exec(out); m !== null; m = re.exec(out)) {
    const group = readBraced(out, m.index + m[0].length);
    if (group === null) break;
    out = `${out.slice(0, m.index)} ${group[0]} ${out.slice(group[1])}`;
    re.lastIndex = m.index;
  }
  return out;
}

function stripOuter(s: string): string {
  let prev = '';
  let out = s.trim();
  while (out !== prev) {
    prev = out;
    for (const [open, close] of [['$$', '$$'], ['$', '$'], ['\\(', '\\)'], ['\\[', '\\]']] as const) {
      if (out.length >= open.length + close.length && out.startsWith(open) && out.endsWith(close)) {
        out = out.slice(open.length, out.length - close.length).trim();
      }
    }
    const boxedWhole = /^\\boxed\s*(?=\{)/.exec(out);
    if (boxedWhole) {
      const group = readBraced(out, boxedWhole[0].length);
      if (group && group[1] === out.length) out = group[0].trim();
    }
  }
  return out;
}

/** Parses a plain number, a/b, \frac{a}{b} (\frac34) or 1,000; null when it is not exactly one. */
function parseNumber(s: string): number | null {
  const t = s.replace(/\{,\}/g, ',').trim();
  if (/^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$/.test(t)) return Number(t.replace(/,/g, ''));
  if (/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(t)) return Number(t);
  const slash = /^([-+]?(?:\d+\.?\d*|\.\d+))\s*\/\s*(\d+\.?\d*|\.\d+)$/.exec(t);
  if (slash) return ratio(Number(slash[1]), Number(slash[2]));
  const frac = /^([-+]?)\\frac\s*/.exec(t);
  if (frac) {
    const args: string[] = [];
    let i = frac[0].length;
    for (let k = 0; k < 2; k++) {
      while (t[i] === ' ') i++;
      if (t[i] === '{') {
        const group = readBraced(t, i);
        if (group === null) return null;
        args.push(group[0]);
        i = group[1];
      } else if (i < t.length) {
        args.push(t[i] as string); // \frac34
        i++;
      } else return null;
    }
    if (t.slice(i).trim() !== '') return null;
    const num = parseNumber(args[0] as string);
    const den = parseNumber(args[1] as string);
    if (num === null || den === null) return null;
    const v = ratio(num, den);
    return v === null ? null : frac[1] === '-' ? -v : v;
  }
  return null;
}

function ratio(num: number, den: number): number | null {
  return den === 0 ? null : num / den;
}

/** Canonical decimal text: 12.80 -> "12.8", 12.0 -> "12", 64/5 -> "12.8". */
export function formatAnswerNumber(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return String(Number(value.toPrecision(12)));
}

/** Normalizes a raw answer string (see the file comment for the rules). */
export function parseAnswer(raw: string): ParsedAnswer {
  let s = raw.replace(/\u2212/g, '-').replace(/\\\$/g, ''); // unicode minus, money dollar signs
  s = stripOuter(s);
  s = s.replace(/\$/g, ' ');
  s = s.replace(/\\[dt]frac/g, '\\frac');
  s = s.replace(/\\left|\\right/g, '');
  s = s.replace(/\\[!,;:> ]/g, ' ').replace(/~/g, ' ');
  s = s.replace(/\^\s*\{?\s*\\circ\s*\}?|°|\\degree/g, ' ');
  s = unwrapCommand(s, ['text', 'textbf', 'textit', 'textnormal', 'mathrm', 'mathbf', 'mbox', 'operatorname']);
  let percent = false;
  if (/\\?%/.test(s)) {
    percent = true;
    s = s.replace(/\\?%/g, ' ');
  }
  s = s.replace(/\s+/g, ' ').trim().replace(/\.$/, '').trim();
  const assign = /^[a-zA-Z](?:_\{?\w+\}?)?\s*(?:=|\\approx)\s*(.+)$/.exec(s);
  if (assign) s = (assign[1] as string).trim();

  let value = parseNumber(s);
  if (value === null) {
    // "12.8 mph", "12.8 miles per hour", "5 cm^2", "9\pi square units": a number or closed form, a space, then unit words.
    const m = /^(\S+)\s+([a-zA-Z][a-zA-Z./^0-9\s-]*)$/.exec(s);
    if (m) {
      const words = (m[2] as string).toLowerCase().split(/[\s/^.-]+/).filter((w) => w.length > 0);
      if (!words.some((w) => NOT_UNITS.has(w))) value = parseNumber(m[1] as string) ?? latexValue(m[1] as string);
    }
  }
  if (value !== null && Number.isFinite(value)) {
    return { text: formatAnswerNumber(value), value, percent };
  }
  let text = s.replace(/\s+/g, '');
  if (/^[a-zA-Z]+$/.test(text)) text = text.toLowerCase();
  return { text, value: null, percent };
}

/** Canonical text of an answer ("12.80 mph" -> "12.8", "\dfrac{64}{5}" -> "12.8"). */
export function normalizeAnswer(raw: string): string {
  return parseAnswer(raw).text;
}

/** Numeric tolerance: |a-b| <= max(absolute, relative * max(|a|, |b|)). A bare number is relative. */
export interface AnswerTolerance {
  relative?: number;
  absolute?: number;
}

export interface AnswerMatchOptions {
  /** Defaults to float noise only (relative 1e-9): 1/3 does not match 0.333 unless you allow it. */
  tolerance?: number | AnswerTolerance;
}

function close(a: number, b: number, tol: Required<AnswerTolerance>): boolean {
  return Math.abs(a - b) <= Math.max(tol.absolute, tol.relative * Math.max(Math.abs(a), Math.abs(b)));
}

/** A tuple, interval, set or bare list of answers: `(1,2)`, `[0,\infty)`, `\{1,2\}`, `2,-3`. */
interface AnswerList {
  open: string;
  close: string;
  items: string[];
  /** Sets and bare lists ("x = 2, -3") compare as multisets; tuples and intervals in order. */
  ordered: boolean;
}

/** Splits at top-level occurrences of `sep` (outside (), [], {} and \{ \}). */
function splitTopLevel(s: string, sep: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && (s[i + 1] === '{' || s[i + 1] === '}')) {
      depth += s[i + 1] === '{' ? 1 : -1;
      i++;
    } else if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    else if (depth === 0 && s.startsWith(sep, i)) {
      out.push(s.slice(start, i));
      start = i + sep.length;
      i += sep.length - 1;
    }
  }
  out.push(s.slice(start));
  return out;
}

/** True when the bracket at 0 closes at the last character (so `(1,2)+(3,4)` is not one tuple). */
function enclosed(s: string): boolean {
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    if ('([{'.includes(s[i] as string)) depth++;
    else if (')]}'.includes(s[i] as string)) depth--;
    if (depth === 0 && i < s.length - 1) return false;
  }
  return depth === 0;
}

function parseList(part: string): AnswerList | null {
  if (part.startsWith('\\{') && part.endsWith('\\}')) {
    return { open: '{', close: '}', items: splitTopLevel(part.slice(2, -2), ','), ordered: false };
  }
  if (/^[([]/.test(part) && /[)\]]$/.test(part) && enclosed(part)) {
    const items = splitTopLevel(part.slice(1, -1), ',');
    if (items.length >= 2) return { open: part[0] as string, close: part[part.length - 1] as string, items, ordered: true };
  }
  const items = splitTopLevel(part, ',');
  return items.length >= 2 ? { open: '', close: '', items, ordered: false } : null;
}

/** Canonical answer text as a union (`\cup`) of lists, or null when it is a single value. */
function parseAnswerLists(text: string): AnswerList[] | null {
  const parts = splitTopLevel(text, '\\cup');
  const lists = parts.map(parseList);
  if (parts.length === 1) return lists[0] ? [lists[0]] : null;
  return lists.every((l) => l !== null) ? (lists as AnswerList[]) : null;
}

function listsMatch(a: AnswerList[], b: AnswerList[], opts: AnswerMatchOptions): boolean {
  if (a.length !== b.length) return false;
  return a.every((la, k) => {
    const lb = b[k] as AnswerList;
    if (la.open !== lb.open || la.close !== lb.close || la.items.length !== lb.items.length) return false;
    if (la.ordered) return la.items.every((x, i) => answersMatch(x, lb.items[i] as string, opts));
    const used = new Set<number>();
    return la.items.every((x) => {
      const j = lb.items.findIndex((y, idx) => !used.has(idx) && answersMatch(x, y, opts));
      if (j >= 0) used.add(j);
      return j >= 0;
    });
  });
}

function resolveTolerance(t: AnswerMatchOptions['tolerance']): Required<AnswerTolerance> {
  return typeof t === 'number' ? { relative: t, absolute: 0 } : { relative: t?.relative ?? 1e-9, absolute: t?.absolute ?? 0 };
}

/**
 * True when two answers are the same after normalization: numerically (within tolerance) when both
 * parse as numbers or closed-form LaTeX values (latex-value.ts), element by element for tuples,
 * intervals (brackets must agree), sets and unions, otherwise by canonical text. A percent sign is
 * optional: "50%" matches 50 and 0.5.
 */
export function answersMatch(a: string, b: string, opts: AnswerMatchOptions = {}): boolean {
  const pa = parseAnswer(a);
  const pb = parseAnswer(b);
  const tol = resolveTolerance(opts.tolerance);
  if (pa.value !== null && pb.value !== null) {
    if (close(pa.value, pb.value, tol)) return true;
    if (pa.percent && close(pa.value / 100, pb.value, tol)) return true;
    if (pb.percent && close(pa.value, pb.value / 100, tol)) return true;
    return false;
  }
  if (pa.text.length === 0 || pb.text.length === 0) return false;
  if (pa.text === pb.text) return true;
  const la = parseAnswerLists(pa.text);
  const lb = parseAnswerLists(pb.text);
  if (la !== null || lb !== null) return la !== null && lb !== null && listsMatch(la, lb, opts);
  const va = pa.value ?? latexValue(pa.text);
  const vb = pb.value ?? latexValue(pb.text);
  return va !== null && vb !== null && (va === vb || close(va, vb, tol));
}
