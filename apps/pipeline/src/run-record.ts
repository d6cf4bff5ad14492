import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunRecord } from './run-dir';

/** The repository root: the nearest folder above this file whose package.json has workspaces. */
export function workspaceRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 10; i++) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj) && 'workspaces' in (JSON.parse(readFileSync(pj, 'utf8')) as object)) return dir;
    dir = dirname(dir);
  }
  return process.cwd();
}

/** HEAD commit and whether the tree has changes, or null outside a git checkout / without git. */
export function gitInfo(cwd: string = workspaceRoot()): RunRecord['git'] {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    const status = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    return { commit, dirty: status.trim().length > 0 };
  } catch {
    return null;
  }
}

const KEY_PACKAGES = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu', 'rxjs', 'zod', 'yaml', 'vega', 'vega-lite'];

/** Versions of emrl's own packages and the installed key dependencies. */
export function packageVersions(root: string = workspaceRoot()): Record<string, string> {
  const out: Record<string, string> = {};
  const read = (file: string): void => {
    if (!existsSync(file)) return;
    const pj = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (pj.name && pj.version) out[pj.name] = pj.version;
  };
  read(join(root, 'package.json'));
  for (const p of ['libs/lm', 'libs/rl-grpo', 'libs/em-plugin', 'apps/pipeline']) read(join(root, p, 'package.json'));
  for (const p of KEY_PACKAGES) read(join(root, 'node_modules', p, 'package.json'));
  return out;
}

/** The device a run used: OS, CPU model and count, memory (the report's header shows it). */
export function machineInfo(): NonNullable<RunRecord['machine']> {
  const cpus = os.cpus();
  return { platform: os.platform(), arch: os.arch(), cpu: cpus[0]?.model?.trim() ?? 'unknown', cores: cpus.length, memoryGb: Math.round(os.totalmem() / 2 ** 30) };
}

export function buildRunRecord(opts: { name: string; pipeline: Record<string, unknown>; seed: number; backend: unknown; date?: Date }): RunRecord {
  return {
    name: opts.name,
    createdAt: (opts.date ?? new Date()).toISOString(),
    pipeline: opts.pipeline,
    seed: opts.seed,
    git: gitInfo(),
    versions: { node: process.version, packages: packageVersions() },
    backend: opts.backend,
    argv: process.argv.slice(2),
    machine: machineInfo(),
  };
}
