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

/** Runs tools/bench/torch_bench.py once per thread count (BLAS threads pinned to match). */
export function runTorchBench(python: string, threads: number[], quick: boolean): { version: string; rows: TorchRow[] } {
  const script = fileURLToPath(new URL('./torch_bench.py', import.meta.url));
  const rows: TorchRow[] = [];
  let version = '';
  for (const t of threads) {
    const env = { ...process.env, OMP_NUM_THREADS: String(t), OPENBLAS_NUM_THREADS: String(t), MKL_NUM_THREADS: String(t) };
    const r = spawnSync(python, [script, '--threads', String(t), ...(quick ? ['--quick'] : [])], { env, encoding: 'utf8', maxBuffer: 1 << 20 });
    if (r.status !== 0) throw new Error(`tools/bench/torch_bench.py failed (${python}, ${t} threads): ${r.stderr.slice(-500)}`);
    const parsed = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { torch: string; results: TorchRow[] };
    version = parsed.torch;
    rows.push(...parsed.results);
  }
  return { version, rows };
}
