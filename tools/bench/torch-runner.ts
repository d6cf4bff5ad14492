import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface TorchRow {
  threads: number;
  name: string;
  ms: number;
  tokens_per_s: number;
}

/** First python3 on this machine that imports torch (pyenv shims may lack it), or null. */
export function findTorchPython(): string | null {
  for (const py of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' });
    if (r.status === 0) return py;
  }
  return null;
}

/**
 * Runs one tools/bench/*.py script with `threads` BLAS / OpenMP threads (pinned through the
 * environment) and parses the JSON object on its last stdout line.
 */
export function runTorchScript<T>(python: string, script: string, args: string[], threads: number): T {
  const path = fileURLToPath(new URL(`./${script}`, import.meta.url));
  const env = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) };
  const r = spawnSync(python, [path, '--threads', String(threads), ...args], { env, encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`tools/bench/${script} failed (${python}, ${threads} threads): ${(r.stderr ?? '').slice(-800)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as T;
}

/** Runs tools/bench/torch_bench.py once per thread count (BLAS threads pinned to match). */
export function runTorchBench(python: string, threads: number[], quick: boolean): { version: string; rows: TorchRow[] } {
  const rows: TorchRow[] = [];
  let version = '';
  for (const t of threads) {
    const parsed = runTorchScript<{ torch: string; results: TorchRow[] }>(python, 'torch_bench.py', quick ? ['--quick'] : [], t);
    version = parsed.torch;
    rows.push(...parsed.results);
  }
  return { version, rows };
}
