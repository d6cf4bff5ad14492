// Named points around every durable write of a run directory (before and after each rename, after
// each append), so a test can stop the world there: the kill matrix copies the directory at each
// point, which is exactly what a SIGKILL landing there leaves on disk (all writes are synchronous).
// Idea from the fail points of FoundationDB / TiKV; a no-op unless a test sets a hook.

export type FailpointHook = (point: 'before-rename' | 'after-rename' | 'after-append', file: string) => void;

let hook: FailpointHook | null = null;

/** Sets (or clears, with null) the hook; returns the previous one. Test-only. */
export function setFailpointHook(h: FailpointHook | null): FailpointHook | null {
  const prev = hook;
  hook = h;
  return prev;
}

export function failpoint(point: Parameters<FailpointHook>[0], file: string): void {
  hook?.(point, file);
}
