import { z } from 'zod';
import { defOf, unwrap } from './config-error';

/** One option of a stage's zod object schema, as `emrl describe` prints it. */
export interface SchemaField {
  name: string;
  /** Short type from the field's JSON Schema: `integer >= 2`, `"grpo" | "bnpo"`, `boolean`. */
  type: string;
  hasDefault: boolean;
  default?: unknown;
  optional: boolean;
  /** The `.meta({ description })` text found on the field or any wrapper. */
  description?: string;
}

const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional']);

function describeOf(s: z.ZodType): string | undefined {
  return z.globalRegistry.get(s)?.description ?? (s as { description?: string }).description;
}

/** Walks the wrappers of one field: first description, the default, whether it may be left out. */
function fieldInfo(s: z.ZodType): Omit<SchemaField, 'name' | 'type'> {
  const info: Omit<SchemaField, 'name' | 'type'> = { hasDefault: false, optional: false };
  let cur = s;
  for (let i = 0; i < 20; i++) {
    info.description ??= describeOf(cur);
    const d = defOf(cur) as { type: string; innerType?: z.ZodType; defaultValue?: unknown };
    if (d.type === 'default' && !info.hasDefault) {
      info.hasDefault = true;
      info.default = d.defaultValue;
    }
    if (d.type === 'optional') info.optional = true;
    if (!WRAPPERS.has(d.type) || !d.innerType) break;
    cur = d.innerType;
  }
  return info;
}

type Json = { type?: string | string[]; enum?: unknown[]; const?: unknown; anyOf?: Json[]; oneOf?: Json[]; items?: Json; minimum?: number; maximum?: number; exclusiveMinimum?: number; exclusiveMaximum?: number; properties?: Record<string, Json> };

/** `integer >= 2`, `number in (0, 1]`, `"token" | "sequence"` from a field's JSON Schema. */
export function typeSummary(js: Json): string {
  if (js.enum) return js.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (js.const !== undefined) return JSON.stringify(js.const);
  const alts = js.anyOf ?? js.oneOf;
  if (alts) return alts.map(typeSummary).join(' | ');
  if (js.type === 'array') return `array of ${js.items ? typeSummary(js.items) : 'any'}`;
  if (js.type === 'object') return js.properties ? `{ ${Object.keys(js.properties).join(', ')} }` : 'object';
  const t = Array.isArray(js.type) ? js.type.join(' | ') : (js.type ?? 'any');
  const big = (x: number | undefined) => x !== undefined && Math.abs(x) < 1e15;
  const lo = big(js.exclusiveMinimum) ? `> ${js.exclusiveMinimum}` : big(js.minimum) ? `>= ${js.minimum}` : '';
  const hi = big(js.exclusiveMaximum) ? `< ${js.exclusiveMaximum}` : big(js.maximum) ? `<= ${js.maximum}` : '';
  return [t, lo, hi].filter(Boolean).join(' ').replace(/ (>=?[^<]*) (<)/, ' $1, $2');
}

/** Every top-level option of an object schema (after wrappers), in declaration order. */
export function schemaFields(schema: z.ZodType): SchemaField[] {
  const shape = defOf(unwrap(schema)).shape;
  if (!shape) return [];
  return Object.entries(shape).map(([name, field]) => {
    let js: Json = {};
    try {
      js = z.toJSONSchema(field, { io: 'input', unrepresentable: 'any' }) as Json;
    } catch {
      js = {};
    }
    return { name, type: typeSummary(js), ...fieldInfo(field) };
  });
}

/** The default of one top-level option (e.g. `steps`), or undefined. */
export function defaultOf(schema: z.ZodType, key: string): number | undefined {
  const field = defOf(unwrap(schema)).shape?.[key];
  const d = field ? fieldInfo(field).default : undefined;
  return typeof d === 'number' ? d : undefined;
}
