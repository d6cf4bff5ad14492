import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { failpoint } from './failpoints';

let counter = 0;

/**
 * Write a file so readers (and a resume after kill -9) see either the old or the new content:
 * write a temp file in the same folder, fsync it, rename over the target, fsync the folder.
 * Synchronous twin of @emrl/lm's async writeFileAtomic: RunDir writes state and metrics from
 * synchronous event handlers, where awaiting would reorder writes against events.jsonl appends.
 */
export function writeFileAtomicSync(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}-${counter++}`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  failpoint('before-rename', tmp);
  renameSync(tmp, path);
  try {
    const dfd = openSync(dirname(path), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  }
  failpoint('after-rename', path);
}
