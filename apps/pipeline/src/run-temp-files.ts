// Leftovers of killed processes in a run directory: checkpoint folders `step-N.tmp-<pid>`, atomic
// write temp files `.name.tmp-<pid>-<hex>` (@emrl/lm writeFileAtomic, savePretrained) and
// `name.tmp-<pid>-<n>` (atomic-write.ts). Removed at the next start, while the run lock is held,
// so no live writer can own them.
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const TEMP_NAME = /\.tmp-(\d+)(-[0-9a-f]+)?$/;

/** Whether a file or folder name is a temp name left by an atomic write of process `pid`. */
export function tempOwnerPid(name: string): number | null {
  const m = TEMP_NAME.exec(name);
  return m ? Number(m[1]) : null;
}

/** Removes temp files and folders under `dir` (recursively) not owned by this process; returns their paths. */
export function removeStaleTempFiles(dir: string): string[] {
  const removed: string[] = [];
  const walk = (d: string): void => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const path = join(d, e.name);
      const pid = tempOwnerPid(e.name);
      if (pid !== null && pid !== process.pid) {
        rmSync(path, { recursive: true, force: true });
        removed.push(path);
      } else if (e.isDirectory()) walk(path);
    }
  };
  walk(dir);
  return removed;
}
