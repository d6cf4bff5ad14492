// Paths stored inside a run directory are relative to it, so `mv` and `cp -r` of a run resume from
// the run's own files (issue 12: a copy used to resume from the original's checkpoints).
import { isAbsolute, join, relative, sep } from 'node:path';

/** `path` relative to `dir` when it lies inside it; other paths are returned unchanged. */
export function toRunRelative(dir: string, path: string): string {
  if (!isAbsolute(path)) return path;
  const rel = relative(dir, path);
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? path : rel.split(sep).join('/');
}

/**
 * An absolute path for a path read from a run file. Relative paths resolve against `dir`. An
 * absolute path (written before runs were relocatable) inside `dir` is kept; one under another
 * folder's `checkpoints/` (the run was moved or copied) is rebased onto `dir`; else null.
 */
export function fromRunRelative(dir: string, path: string): string | null {
  if (!isAbsolute(path)) return join(dir, ...path.split('/'));
  const rel = relative(dir, path);
  if (!rel.startsWith('..') && !isAbsolute(rel)) return path;
  const parts = path.split(/[\\/]/);
  const at = parts.lastIndexOf('checkpoints');
  return at < 0 ? null : join(dir, ...parts.slice(at));
}
