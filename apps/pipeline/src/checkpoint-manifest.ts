// Sizes of the files of a checkpoint folder, recorded in stage-state.json next to the checkpoint
// and checked on resume: a truncated, replaced or deleted file (model weights, optimizer state) is
// found before it is loaded, without reading gigabytes to hash them.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { RunFileError } from './run-files';
import { tempOwnerPid } from './run-temp-files';

/** `relative/path -> bytes` of every regular file under `dir` (temp files excluded). */
export function checkpointManifest(dir: string): Record<string, number> {
  const out: Record<string, number> = {};
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (tempOwnerPid(e.name) !== null) continue;
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out[relative(dir, p).split('\\').join('/')] = statSync(p).size;
    }
  };
  if (existsSync(dir) && statSync(dir).isDirectory()) walk(dir);
  return out;
}

/** Throws naming the first file of `dir` that is missing or has another size than recorded. */
export function checkCheckpointManifest(dir: string, recorded: Record<string, number>, stateFile: string, shown: string): void {
  for (const [name, size] of Object.entries(recorded)) {
    const file = join(dir, ...name.split('/'));
    if (!existsSync(file)) {
      throw new RunFileError(file, `missing; ${stateFile} recorded it (${size} bytes) in checkpoint ${shown}. Restore it from a copy of the run, or start the run again`);
    }
    const now = statSync(file).size;
    if (now !== size) {
      throw new RunFileError(file, `is ${now} bytes but ${stateFile} recorded ${size} when checkpoint ${shown} was written; the file was truncated or replaced`);
    }
  }
}
