import { fork, type ChildProcess } from 'node:child_process';
import type { WorkerJob } from '../run-sweep';

export interface CellProcess {
  child: ChildProcess;
  /** Exit code (0 ok, 130 interrupted, else failed) and the child's last "failed: ..." message. */
  exited: Promise<{ code: number | null; error: string | null }>;
}

/**
 * Run one cell in a forked sweep worker (the same entry and message as a local sweep), so the
 * queue worker's event loop stays free to renew BullMQ locks while tfjs computes.
 */
export function forkCell(entry: string, job: WorkerJob, onLine: (line: string) => void): CellProcess {
  const child = fork(entry, [], { execArgv: ['--conditions=@emrl/source', '--import', import.meta.resolve('tsx')], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let error: string | null = null;
  const lines = (buf: Buffer): void => {
    for (const line of buf.toString().split('\n')) {
      if (!line.trim()) continue;
      if (line.startsWith('failed: ')) error = line.slice('failed: '.length);
      onLine(line);
    }
  };
  child.stdout?.on('data', lines);
  child.stderr?.on('data', lines);
  child.send(job);
  const exited = new Promise<{ code: number | null; error: string | null }>((done) => child.on('exit', (code) => done({ code, error })));
  return { child, exited };
}
