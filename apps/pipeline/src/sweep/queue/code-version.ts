import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { gitInfo, workspaceRoot } from '../../run-record';

/** Overrides the computed version (a deploy without git, or a test that simulates an old worker). */
export const CODE_VERSION_ENV = 'EMRL_CODE_VERSION';

/**
 * What a queued cell requires of the worker that runs it: the git commit, plus a hash of the
 * uncommitted diff when the tree is dirty (two dirty trees at one commit differ unless their edits
 * are identical). Falls back to "unknown" outside a git checkout; set EMRL_CODE_VERSION there.
 */
export function codeVersion(env: NodeJS.ProcessEnv = process.env): string {
  const forced = env[CODE_VERSION_ENV];
  if (forced) return forced;
  const git = gitInfo();
  if (!git) return 'unknown';
  if (!git.dirty) return git.commit;
  try {
    const diff = execFileSync('git', ['diff', 'HEAD'], { cwd: workspaceRoot(), stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 256 * 1024 * 1024 });
    return `${git.commit}+dirty.${createHash('sha256').update(diff).digest('hex').slice(0, 12)}`;
  } catch {
    return `${git.commit}+dirty`;
  }
}
