import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Unique sibling name for `path` (same directory, so rename(2) stays atomic). */
export function tempSiblingPath(path: string, tag = 'tmp'): string {
  return join(dirname(path), `.${basename(path)}.${tag}-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** fsync a directory so a rename inside it survives a crash (best effort: not every platform allows it). */
export async function fsyncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // Directories cannot be opened for fsync on some platforms (Windows); the rename is still atomic.
  } finally {
    await fh?.close();
  }
}

/**
 * Writes `data` to `path` so that readers see either the old file or the complete new one:
 * write a temp file in the same directory, fsync it, rename it over `path`, fsync the directory.
 * Creates the parent directory when missing.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempSiblingPath(path);
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(dirname(path));
}
