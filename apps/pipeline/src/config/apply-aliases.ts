import { didYouMean } from './did-you-mean';
import { aliasTableFor, type OptionAlias } from './trl-aliases';

/** A stage block with TRL names rewritten to emrl's, the problems found, and who wrote what. */
export interface AliasedOptions {
  options: unknown;
  problems: string[];
  /** emrl key -> the TRL key the user wrote (error messages name what the user wrote). */
  renamed: Record<string, string>;
}

const SCHEDULE_KEYS = ['lr_scheduler_type', 'warmup_ratio', 'warmup_steps'] as const;
const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const show = (v: unknown): string => JSON.stringify(v);

type Translated = { ok: true; value: unknown } | { ok: false; problem?: string };

/** A TRL (or emrl) value of an option with value aliases in emrl's terms. */
function translateValue(alias: OptionAlias, value: unknown, at: string): Translated {
  const reason = alias.unsupported?.[String(value)];
  if (reason) return { ok: false, problem: `${at}: ${show(value)} is not supported: ${reason}` };
  if (!alias.values) return { ok: true, value };
  const hit = alias.values.find((v) => v.trl === value || v.emrl === value);
  if (hit) return { ok: true, value: hit.trl === value ? hit.emrl : value };
  if (typeof value !== 'string') return { ok: true, value }; // the schema reports the type
  const names = [...new Set(alias.values.flatMap((v) => [String(v.trl), String(v.emrl)]))];
  const guess = didYouMean(value, names);
  const listed = alias.values.map((v) => (v.trl === v.emrl ? show(v.trl) : `${show(v.trl)} (= ${show(v.emrl)})`)).join(' | ');
  return { ok: false, problem: `${at}: expected one of ${listed}, received ${show(value)}${guess ? ` (did you mean "${guess}"?)` : ''}` };
}

/**
 * `lr_scheduler_type` / `warmup_ratio` / `warmup_steps` -> emrl's `schedule` (transformers computes
 * warmup steps as ceil(warmup_ratio * max_steps)). `steps` is the stage's resolved step count.
 */
function translateSchedule(given: Record<string, unknown>, steps: number, where: string): { schedule?: unknown; problems: string[] } {
  const problems: string[] = [];
  const type = given['lr_scheduler_type'];
  const ratio = given['warmup_ratio'];
  const wSteps = given['warmup_steps'];
  if (ratio !== undefined && wSteps !== undefined) problems.push(`${where}: both warmup_ratio and warmup_steps given; keep one`);
  if (ratio !== undefined && (typeof ratio !== 'number' || ratio < 0 || ratio > 1)) problems.push(`${where}.warmup_ratio: expected a number in [0, 1], received ${show(ratio)}`);
  if (wSteps !== undefined && (typeof wSteps !== 'number' || !Number.isInteger(wSteps) || wSteps < 0)) problems.push(`${where}.warmup_steps: expected an integer >= 0, received ${show(wSteps)}`);
  if (type !== undefined && type !== 'constant' && type !== 'cosine') {
    const guess = typeof type === 'string' ? didYouMean(type, ['constant', 'cosine']) : undefined;
    problems.push(`${where}.lr_scheduler_type: emrl implements "constant" and "cosine" (= schedule { type: warmup-cosine }), received ${show(type)}${guess ? ` (did you mean "${guess}"?)` : ''}; transformers' default "linear" has no emrl equivalent`);
  }
  if (problems.length > 0) return { problems };
  const warmup = typeof wSteps === 'number' ? wSteps : typeof ratio === 'number' ? Math.ceil(ratio * steps) : 0;
  if (type === 'cosine') return { schedule: { type: 'warmup-cosine', warmupSteps: warmup }, problems };
  if (warmup > 0) {
    return { problems: [`${where}: warmup needs lr_scheduler_type: cosine (emrl's constant schedule has no warmup, and transformers' default "linear" is not implemented)`] };
  }
  return { schedule: { type: 'constant' }, problems };
}

/**
 * Rewrite TRL names in one stage block (`stages[i].<kind>`) to emrl's: every alias of the kind's
 * table, value aliases on both names (`loss_type: dapo`, `lossType: dapo` -> bnpo;
 * `scale_rewards: true` -> group), and the schedule keys. An alias given together with its emrl
 * name is a problem, as is a TRL option emrl does not have. `defaultSteps` is used for warmup_ratio
 * when the block sets no step count.
 */
export function applyTrlAliases(kind: string, raw: unknown, where: string, defaultSteps: number | undefined): AliasedOptions {
  const table = aliasTableFor(kind);
  if (!isRecord(raw) || table.aliases.length === 0) return { options: raw, problems: [], renamed: {} };
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  const renamed: Record<string, string> = {};
  const schedule: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    const unsupported = table.unsupported[key];
    if (unsupported) {
      problems.push(`${where}.${key}: TRL option with no emrl equivalent: ${unsupported}`);
      continue;
    }
    if ((SCHEDULE_KEYS as readonly string[]).includes(key)) {
      schedule[key] = value;
      continue;
    }
    const alias = table.aliases.find((a) => a.trl === key) ?? table.aliases.find((a) => a.emrl === key && a.values);
    if (!alias) {
      out[key] = value;
      continue;
    }
    if (alias.trl !== alias.emrl && key === alias.trl && alias.emrl in raw) {
      problems.push(`${where}: both "${key}" (TRL's name) and "${alias.emrl}" (emrl's) are given; keep one`);
      continue;
    }
    const t = translateValue(alias, value, `${where}.${key}`);
    if (!t.ok) {
      if (t.problem) problems.push(t.problem);
      continue;
    }
    out[alias.emrl] = t.value;
    if (key !== alias.emrl) renamed[alias.emrl] = key;
  }
  if (Object.keys(schedule).length > 0) {
    if ('schedule' in raw) {
      problems.push(`${where}: both ${Object.keys(schedule).join(', ')} (TRL's names) and "schedule" (emrl's) are given; keep one`);
    } else {
      const steps = typeof out['steps'] === 'number' ? out['steps'] : (defaultSteps ?? 0);
      const s = translateSchedule(schedule, steps, where);
      problems.push(...s.problems);
      if (s.schedule !== undefined) {
        out['schedule'] = s.schedule;
        renamed['schedule'] = Object.keys(schedule).join(' + ');
      }
    }
  }
  return { options: out, problems, renamed };
}

/** `grpo.learning_rate` -> `grpo.lr` for --set paths (schedule keys stay: they combine at parse time). */
export function aliasOverridePath(path: readonly string[]): string[] {
  if (path.length < 2) return [...path];
  const alias = aliasTableFor(path[0]!).aliases.find((a) => a.trl === path[1] && a.emrl !== 'schedule');
  return alias ? [path[0]!, alias.emrl, ...path.slice(2)] : [...path];
}
