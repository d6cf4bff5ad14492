// One process at a time per run directory (issue 12: two `emrl resume` of one run both ran to the
// end and duplicated events). The lock is a file created with link(2), which fails if the name
// exists, so two processes can never both take it; it holds pid, host and start time, and is
// removed when the process exits. A lock left by a dead process on this host is taken over.
import { closeSync, linkSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

export const LOCK_FILE = 'run.lock';

export const RunLockSchema = z
  .object({
    pid: z.number().int().positive(),
    host: z.string(),
    startedAt: z.string().meta({ description: 'ISO time the holder took the lock' }),
    command: z.string().meta({ description: 'what the holder runs (run, resume, report)' }),
  })
  .strict();
export type RunLockInfo = z.infer<typeof RunLockSchema>;

/** The run directory is held by another live process (or one on another host). */
export class RunLockedError extends Error {
  override readonly name = 'RunLockedError';
  constructor(
    readonly dir: string,
    readonly holder: RunLockInfo,
    detail: string,
  ) {
    super(`${dir}: ${detail}`);
  }
}

/** Locks this process holds: dir -> number of holders (re-entrant within one process). */
const held = new Map<string, number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const dir of held.keys()) rmSync(join(dir, LOCK_FILE), { force: true });
  });
}

/** Whether `pid` is a live process on this host (EPERM: alive but not ours). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Start time (ms since the epoch) of a process from Linux /proc, or null where that is unavailable. */
export function processStartMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime, clock ticks after boot) counted after the ")" that ends the command name.
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    const btime = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1]);
    const CLK_TCK = 100; // USER_HZ on every mainstream Linux build
    return Number.isFinite(ticks) && Number.isFinite(btime) ? btime * 1000 + (ticks * 1000) / CLK_TCK : null;
  } catch {
    return null;
  }
}

/** The lock's holder still runs: its pid is alive and (where /proc tells) started before it took the lock, so it is not a reused pid. */
function holderAlive(lock: RunLockInfo): boolean {
  if (!isProcessAlive(lock.pid)) return false;
  const started = processStartMs(lock.pid);
  const locked = Date.parse(lock.startedAt);
  // 2 s of slack for the tick rounding of /proc and clock steps.
  return started === null || Number.isNaN(locked) || started <= locked + 2000;
}

function readRaw(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

function parseLock(raw: string | null): RunLockInfo | null {
  if (raw === null) return null;
  try {
    const parsed = RunLockSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** Creates `file` atomically with its full content (link(2) of a written temp file); false when it exists. */
function tryCreate(file: string, content: string): boolean {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
}

const sleepSync = (ms: number): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
/** A takeover guard older than this was left by a process killed inside the few microseconds it holds one. */
const STALE_GUARD_MS = 10_000;

/**
 * Removes the stale lock `judged` (its raw content) unless it changed meanwhile. Two processes that
 * both judged the same lock stale must not both remove it (the second would delete the first's new
 * lock), so removal happens under a short-lived guard file and re-reads the lock first.
 */
function removeStaleLock(file: string, judged: string | null): void {
  const guard = `${file}.takeover`;
  if (!tryCreate(guard, String(process.pid))) {
    try {
      if (Date.now() - statSync(guard).mtimeMs > STALE_GUARD_MS) rmSync(guard, { force: true });
    } catch {
      // the guard went away meanwhile
    }
    return;
  }
  try {
    if (judged !== null && readRaw(file) === judged) rmSync(file, { force: true });
  } finally {
    rmSync(guard, { force: true });
  }
}

/**
 * Takes the lock on run directory `dir` (which must exist) for the rest of this process's life.
 * Re-entrant within a process. Refuses a lock held by a live process here or by any process on
 * another host; takes over a lock whose holder is dead (same host), a reused pid, or a garbled file.
 */
export function acquireRunLock(dir: string, command: string): RunLockInfo {
  const file = join(dir, LOCK_FILE);
  const me: RunLockInfo = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString(), command };
  if (held.has(dir)) {
    held.set(dir, held.get(dir)! + 1);
    return parseLock(readRaw(file)) ?? me;
  }
  for (let attempt = 0; attempt < 200; attempt++) {
    if (tryCreate(file, JSON.stringify(me) + '\n')) {
      held.set(dir, 1);
      installExitHook();
      return me;
    }
    const raw = readRaw(file);
    const other = parseLock(raw);
    if (other && other.host !== me.host) {
      throw new RunLockedError(
        dir,
        other,
        `in use by pid ${other.pid} on host "${other.host}" (${other.command}, since ${other.startedAt}); this host cannot tell whether it still runs. ` +
          `If it does not, delete ${file} and try again`,
      );
    }
    if (other && other.pid !== process.pid && holderAlive(other)) {
      throw new RunLockedError(
        dir,
        other,
        `in use by pid ${other.pid} (${other.command}, since ${other.startedAt}); wait for it to finish or stop it, then try again`,
      );
    }
    // Dead holder (kill -9, crash), a reused pid equal to ours, or a garbled file: stale, take it over.
    removeStaleLock(file, raw);
    if (attempt > 0) sleepSync(10);
  }
  throw new Error(`${dir}: could not take ${LOCK_FILE} (another process keeps taking it over); try again`);
}

/** Drops one hold; the file goes when the last hold in this process is released. */
export function releaseRunLock(dir: string): void {
  const n = held.get(dir);
  if (n === undefined) return;
  if (n > 1) {
    held.set(dir, n - 1);
    return;
  }
  held.delete(dir);
  rmSync(join(dir, LOCK_FILE), { force: true });
}

/** Whether this process holds the lock on `dir`. */
export function holdsRunLock(dir: string): boolean {
  return held.has(dir);
}
