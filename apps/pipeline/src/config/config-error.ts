import type { z } from 'zod';
import { didYouMean } from './did-you-mean';

/** Bad user input (config file, preset name, missing file). The CLI maps it to exit code 2. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(problems.map((p) => `${file}: ${p}`).join('\n'));
    this.name = 'ConfigError';
  }
}

/** `stages[2].em.lr` from ['stages', 2, 'em', 'lr']. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out === '' ? '(top level)' : out;
}

/** The value found at `path` inside `data`, or undefined. */
export function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let cur = data;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[seg];
  }
  return cur;
}

/** "string ("1e-4x")", "number (3)", "array", "nothing" -- what a user wrote, briefly. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return `array (${v.length} items)`;
  if (typeof v === 'object') return 'object';
  const shown = JSON.stringify(v);
  return `${typeof v} (${shown.length > 60 ? `${shown.slice(0, 57)}...` : shown})`;
}

export interface LooseDef {
  type: string;
  innerType?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  options?: z.ZodType[];
  in?: z.ZodType;
  discriminator?: string;
  getter?: () => z.ZodType;
}
export const defOf = (s: z.ZodType): LooseDef => (s as unknown as { def: LooseDef }).def;
const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional']);

/** The schema under optional / default / pipe / lazy wrappers. */
export function unwrap(s: z.ZodType): z.ZodType {
  for (let i = 0; i < 20; i++) {
    const d = defOf(s);
    if (WRAPPERS.has(d.type) && d.innerType) s = d.innerType;
    else if (d.type === 'pipe' && d.in) s = d.in;
    else if (d.type === 'lazy' && d.getter) s = d.getter();
    else break;
  }
  return s;
}

/** Keys an object schema accepts at `path` (following the data through unions), for "did you mean". */
export function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[], data: unknown): string[] {
  let s = unwrap(schema);
  let value = data;
  const pick = (): void => {
    // Choose the union member that matches the data (by discriminator, else the first object).
    const d = defOf(s);
    if (d.type !== 'union' || !d.options) return;
    const disc = d.discriminator;
    const tag = disc && value && typeof value === 'object' ? (value as Record<string, unknown>)[disc] : undefined;
    const match = d.options.find((o) => {
      const shape = defOf(unwrap(o)).shape;
      const lit = shape && disc ? defOf(unwrap(shape[disc]!)) : undefined;
      return lit && (lit as unknown as { values?: unknown[] }).values?.includes(tag);
    });
    s = unwrap(match ?? d.options.find((o) => defOf(unwrap(o)).type === 'object') ?? s);
  };
  for (const seg of path) {
    pick();
    const d = defOf(s);
    if (d.type === 'object' && d.shape && typeof seg === 'string' && d.shape[seg]) s = unwrap(d.shape[seg]);
    else if (d.type === 'array' && d.element && typeof seg === 'number') s = unwrap(d.element);
    else return [];
    value = value && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[seg] : undefined;
  }
  pick();
  const d = defOf(s);
  return d.type === 'object' && d.shape ? Object.keys(d.shape) : [];
}

/** Alias knowledge for a stage block: TRL names it accepts and the ones the user wrote. */
export interface IssueHints {
  /** Aliases valid at the top of the block ("did you mean" candidates). */
  aliases?: readonly { trl: string; emrl: string }[];
  /** emrl key -> the alias the user wrote, so messages name what is in the file. */
  renamed?: Readonly<Record<string, string>>;
}

/**
 * One line per zod issue: `<path>: expected <what>, received <what the user wrote>`, with
 * "did you mean" for unknown keys and enum values. `prefix` is prepended to issue paths (stage options).
 */
export function formatIssues(
  issues: readonly z.core.$ZodIssue[],
  data: unknown,
  schema: z.ZodType,
  prefix: readonly PropertyKey[] = [],
  hints: IssueHints = {},
): string[] {
  const out: string[] = [];
  for (const issue of issues) {
    const head = issue.path[0];
    const shown = typeof head === 'string' && hints.renamed?.[head] ? [`${hints.renamed[head]} (emrl ${head})`, ...issue.path.slice(1)] : issue.path;
    const path = [...prefix, ...shown];
    const where = formatPath(path);
    const found = valueAt(data, issue.path);
    switch (issue.code) {
      case 'invalid_type':
        out.push(`${where}: expected ${issue.expected}, received ${describeValue(found)}`);
        break;
      case 'unrecognized_keys': {
        const known = knownKeysAt(schema, issue.path, data);
        const aliases = issue.path.length === 0 ? (hints.aliases ?? []) : [];
        for (const key of issue.keys) {
          const guess = didYouMean(key, [...known, ...aliases.map((a) => a.trl)]);
          const alias = aliases.find((a) => a.trl === guess && a.trl !== a.emrl);
          const said = guess ? ` (did you mean "${guess}"${alias ? `, TRL's name for "${alias.emrl}"` : ''}?)` : '';
          const trl = aliases.length > 0 ? `; TRL's names are accepted too (see "emrl describe")` : '';
          out.push(`${formatPath([...path, key])}: unknown key${said}; allowed here: ${known.join(', ') || '(none)'}${trl}`);
        }
        break;
      }
      case 'invalid_value': {
        const values = issue.values.map((v) => JSON.stringify(v));
        const guess = typeof found === 'string' ? didYouMean(found, issue.values.map(String)) : undefined;
        out.push(
          `${where}: expected one of ${values.join(' | ')}, received ${describeValue(found)}${guess ? ` (did you mean "${guess}"?)` : ''}`,
        );
        break;
      }
      case 'invalid_union': {
        const u = issue as z.core.$ZodIssueInvalidUnion & { options?: unknown[] };
        if (u.discriminator && u.options) {
          const guess = typeof found === 'string' ? didYouMean(found, u.options.map(String)) : undefined;
          out.push(
            `${where}: expected one of ${u.options.map((o) => JSON.stringify(o)).join(' | ')}, received ${describeValue(found)}${guess ? ` (did you mean "${guess}"?)` : ''}`,
          );
        } else {
          out.push(`${where}: ${issue.message}, received ${describeValue(found)}`);
        }
        break;
      }
      default:
        out.push(`${where}: ${issue.message}, received ${describeValue(found)}`);
    }
  }
  return out;
}
