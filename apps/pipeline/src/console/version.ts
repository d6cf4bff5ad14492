import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gitInfo, workspaceRoot } from '../run-record';

/** `emrl 0.1.0 (node v20.20.2, git 502471f)` for `emrl --version`. */
export function versionText(): string {
  const root = workspaceRoot();
  let version = 'unknown';
  try {
    version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    // keep "unknown"
  }
  const git = gitInfo(root);
  return `emrl ${version} (node ${process.version}${git ? `, git ${git.commit.slice(0, 7)}${git.dirty ? '+dirty' : ''}` : ''})`;
}
