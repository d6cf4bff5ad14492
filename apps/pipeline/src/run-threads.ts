import { availableParallelism } from 'node:os';
import { ModelWorkers, type BackendName } from '@emrl/lm';
import type { Threads } from './config/pipeline-schema';

/** What the run record says of threads (inside the backend record: `backend.threads`). */
export interface ThreadsRecord {
  /** The config's `threads` (a count or "auto"). */
  requested: Threads;
  /** Threads that share generation, scoring and gradient passes (1 = the main thread only). */
  used: number;
  /** Why fewer threads than requested run, when they do. */
  reason?: string;
}

/** Most threads "auto" starts: replicas cost memory, and the split gains little past a few cores. */
const AUTO_MAX = 8;

/** The count `threads` asks for on this machine ("auto": the cores, at most 8). */
export function requestedThreads(threads: Threads): number {
  return threads === 'auto' ? Math.max(1, Math.min(AUTO_MAX, availableParallelism())) : threads;
}

/**
 * Starts the run's worker threads (threads - 1 of them) on the run's backend. The wasm and cpu
 * backends run one kernel at a time on one thread, so a second core needs a second thread with its
 * own replica; tfjs-node already runs every kernel on all cores, so there the run stays on one.
 */
export async function startRunThreads(threads: Threads, backend: unknown): Promise<{ workers: ModelWorkers | null; record: ThreadsRecord }> {
  const want = requestedThreads(threads);
  const name = (backend as { name?: string } | null)?.name;
  if (want <= 1) return { workers: null, record: { requested: threads, used: 1 } };
  if (name !== 'wasm' && name !== 'cpu') {
    const reason = name === 'tensorflow' || name === 'tensorflow-gpu' ? `backend ${name} runs its kernels on all cores itself` : `backend ${name ?? 'unknown'} has no worker threads`;
    return { workers: null, record: { requested: threads, used: 1, reason } };
  }
  const workers = await ModelWorkers.start(want - 1, name as BackendName);
  return { workers, record: { requested: threads, used: workers.threads } };
}
