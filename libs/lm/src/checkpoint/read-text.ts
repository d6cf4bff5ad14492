// Reading the small text files of a model directory with errors that name the path: a missing
// file, a directory where a file belongs, or a parent that is a file are explained, never a raw
// EISDIR / ENOTDIR (issue 12).
import { readFile } from 'node:fs/promises';

/** The UTF-8 text of `path` (`what` names it in messages, e.g. "model config"). */
export async function readTextFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EISDIR') throw new Error(`${path}: expected the ${what} file but found a directory; remove it and restore the file`);
    if (code === 'ENOENT') throw new Error(`${path}: missing ${what}`);
    if (code === 'ENOTDIR') throw new Error(`${path}: a parent of this path is a file, not a folder`);
    throw new Error(`${path}: cannot read ${what} (${code ?? (err as Error).message})`);
  }
}
