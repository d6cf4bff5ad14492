import { aliasOverridePath } from './apply-aliases';
import { ConfigError } from './config-error';

/**
 * Set `value` at a dotted path inside plain data. Arrays of single-key objects (stage lists,
 * plugin lists) are addressed by key: `plugins.em-regularizer.coef` finds (or appends) the
 * `{ 'em-regularizer': {...} }` entry. Returns a new object; the input is not modified.
 */
export function setPath(data: unknown, path: readonly string[], value: unknown): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path as [string, ...string[]];
  if (Array.isArray(data)) {
    const idx = data.findIndex((e) => e !== null && typeof e === 'object' && !Array.isArray(e) && head in e);
    const copy = [...data];
    if (idx < 0) copy.push({ [head]: setPath({}, rest, value) });
    else copy[idx] = { ...(copy[idx] as object), [head]: setPath((copy[idx] as Record<string, unknown>)[head] ?? {}, rest, value) };
    return copy;
  }
  const obj = data !== null && typeof data === 'object' ? (data as Record<string, unknown>) : {};
  return { ...obj, [head]: setPath(obj[head] ?? (rest.length > 0 ? {} : undefined), rest, value) };
}

/**
 * Apply `<kind>.<option path>` = value to every stage of that kind in a pipeline file's `stages`
 * list, or a top-level key (seed, backend, diagnostics.x, ...) when no stage has that kind.
 * Returns the new pipeline data and whether any stage matched.
 */
export function applyOverride(pipeline: Record<string, unknown>, dotted: string, value: unknown): { data: Record<string, unknown>; matched: boolean } {
  const path = aliasOverridePath(dotted.split('.'));
  const kind = path[0]!;
  const stages = Array.isArray(pipeline['stages']) ? (pipeline['stages'] as unknown[]) : [];
  let matched = false;
  const next = stages.map((entry) => {
    if (entry !== null && typeof entry === 'object' && kind in entry && path.length > 1) {
      matched = true;
      const e = entry as Record<string, unknown>;
      return { ...e, [kind]: setPath(e[kind] ?? {}, path.slice(1), value) };
    }
    return entry;
  });
  if (matched) return { data: { ...pipeline, stages: next }, matched };
  if (['seed', 'backend', 'threads', 'name', 'model', 'task', 'diagnostics'].includes(kind)) {
    return { data: setPath(pipeline, path, value) as Record<string, unknown>, matched: true };
  }
  return { data: pipeline, matched: false };
}

/** Parse CLI `--set key=value` (value as JSON when it parses, else a string). */
export function parseSetFlag(flag: string): { path: string; value: unknown } {
  const eq = flag.indexOf('=');
  if (eq <= 0) throw new ConfigError('--set', [`expected key=value (e.g. --set em.steps=5), received "${flag}"`]);
  const raw = flag.slice(eq + 1);
  let value: unknown = raw;
  try {
    value = JSON.parse(raw);
  } catch {
    value = raw;
  }
  return { path: flag.slice(0, eq), value };
}

/**
 * Applies CLI `--set key=value` flags in order. A key that names neither a stage kind of the
 * pipeline nor a top-level key is an error naming `where` (the file the flags apply to).
 */
export function applySetFlags(pipeline: Record<string, unknown>, flags: readonly string[], where: string): Record<string, unknown> {
  let data = pipeline;
  for (const flag of flags) {
    const { path, value } = parseSetFlag(flag);
    const r = applyOverride(data, path, value);
    if (!r.matched) throw new ConfigError('--set', [`"${path}": no stage of kind "${path.split('.')[0]}" in ${where} and not a top-level key`]);
    data = r.data;
  }
  return data;
}
