// Test-only: `emrl` (fake stages) child processes whose output a test can wait on.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('./fake-cli.ts', import.meta.url));

export interface Proc {
  child: ChildProcess;
  output: () => string;
  /** Resolves with the first match of `re` in the output so far or to come. */
  waitFor: (re: RegExp, timeoutMs?: number) => Promise<RegExpMatchArray>;
  exited: Promise<number | null>;
}

export function startEmrl(args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, ['--conditions=@emrl/source', '--import', import.meta.resolve('tsx'), CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let text = '';
  const waiters = new Set<() => void>();
  const onData = (d: Buffer): void => {
    text += d.toString();
    for (const w of [...waiters]) w();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<number | null>((done) => child.on('exit', (code, sig) => done(code ?? (sig ? -1 : null))));
  const waitFor = (re: RegExp, timeoutMs = 60_000): Promise<RegExpMatchArray> =>
    new Promise((done, fail) => {
      const check = (): void => {
        const m = text.match(re);
        if (!m) return;
        waiters.delete(check);
        clearTimeout(timer);
        done(m);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        fail(new Error(`timed out after ${timeoutMs} ms waiting for ${re} in:\n${text}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  return { child, output: () => text, waitFor, exited };
}

/** Kill what is still running (afterAll). */
export async function killAll(procs: readonly Proc[]): Promise<void> {
  await Promise.all(
    procs.map(async (p) => {
      if (p.child.exitCode === null && p.child.signalCode === null) {
        p.child.kill('SIGKILL');
        await p.exited;
      }
    }),
  );
}
