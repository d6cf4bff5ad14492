// The run-directory lock: unit cases in this process, and real child processes for the races of
// issue 12 item 4 (two resumes of one run; run --out into a directory another process holds).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { RunDir } from './run-dir';
import { acquireRunLock, holdsRunLock, LOCK_FILE, processStartMs, releaseRunLock, RunLockedError } from './run-lock';
import { metricsCsv, normalizedEvents } from './testing/compare';

const root = mkdtempSync(join(tmpdir(), 'emrl-lock-'));
const fresh = (name: string): string => mkdtempSync(join(root, `${name}-`));
const writeLock = (dir: string, lock: Record<string, unknown>): void => writeFileSync(join(dir, LOCK_FILE), JSON.stringify(lock));

const sleepers: ChildProcess[] = [];
afterAll(() => sleepers.forEach((c) => c.kill('SIGKILL')));
/** A live process that is not ours to lock with. */
function sleeper(): number {
  const c = spawn('sleep', ['60'], { stdio: 'ignore' });
  sleepers.push(c);
  return c.pid!;
}

describe('acquireRunLock', () => {
  it('writes pid, host, start time and command; re-entrant in one process; released on the last release', () => {
    const dir = fresh('basic');
    const info = acquireRunLock(dir, 'run');
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'))).toEqual({ pid: process.pid, host: hostname(), startedAt: info.startedAt, command: 'run' });
    acquireRunLock(dir, 'report');
    releaseRunLock(dir);
    expect(existsSync(join(dir, LOCK_FILE))).toBe(true);
    releaseRunLock(dir);
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    expect(holdsRunLock(dir)).toBe(false);
  });
  it('refuses a lock held by a live process on this host, naming it', () => {
    const dir = fresh('live');
    const pid = sleeper();
    writeLock(dir, { pid, host: hostname(), startedAt: new Date(Date.now() + 1000).toISOString(), command: 'resume' });
    expect(() => acquireRunLock(dir, 'resume')).toThrow(RunLockedError);
    expect(() => acquireRunLock(dir, 'resume')).toThrow(new RegExp(`in use by pid ${pid} \\(resume, since .*\\); wait for it to finish or stop it`));
  });
  it('takes over the lock of a dead process', () => {
    const dir = fresh('dead');
    const dead = spawn('true');
    return new Promise<void>((done) =>
      dead.on('exit', () => {
        writeLock(dir, { pid: dead.pid, host: hostname(), startedAt: new Date().toISOString(), command: 'run' });
        expect(acquireRunLock(dir, 'resume').pid).toBe(process.pid);
        releaseRunLock(dir);
        done();
      }),
    );
  });
  it('takes over when the pid is alive but started after the lock was taken (pid reused)', () => {
    if (processStartMs(process.pid) === null) return; // no /proc: nothing to compare (covered on Linux)
    const dir = fresh('reused');
    writeLock(dir, { pid: sleeper(), host: hostname(), startedAt: new Date(Date.now() - 3_600_000).toISOString(), command: 'run' });
    expect(acquireRunLock(dir, 'resume').pid).toBe(process.pid);
    releaseRunLock(dir);
  });
  it('takes over a lock with our own pid that this process does not hold (a previous container life)', () => {
    const dir = fresh('own-pid');
    writeLock(dir, { pid: process.pid, host: hostname(), startedAt: new Date().toISOString(), command: 'run' });
    expect(acquireRunLock(dir, 'resume').command).toBe('resume');
    releaseRunLock(dir);
  });
  it('refuses a lock from another host with the way out', () => {
    const dir = fresh('host');
    writeLock(dir, { pid: 1, host: 'gpu-node-7', startedAt: '2026-01-01T00:00:00.000Z', command: 'run' });
    expect(() => acquireRunLock(dir, 'resume')).toThrow(/in use by pid 1 on host "gpu-node-7" \(run, since 2026-01-01T00:00:00\.000Z\).*delete .*run\.lock/);
  });
  it('takes over a garbled lock file', () => {
    const dir = fresh('garbled');
    writeFileSync(join(dir, LOCK_FILE), '{"pid": 12');
    expect(acquireRunLock(dir, 'run').pid).toBe(process.pid);
    releaseRunLock(dir);
  });
  it('RunDir.create refuses --out held by another live process', () => {
    const dir = fresh('out');
    writeLock(dir, { pid: sleeper(), host: hostname(), startedAt: new Date(Date.now() + 1000).toISOString(), command: 'run' });
    expect(() => RunDir.create({ dir, name: 'x' })).toThrow(/in use by pid \d+ \(run/);
    expect(existsSync(join(dir, 'events.jsonl'))).toBe(false);
  });
});

const CLI = fileURLToPath(new URL('./testing/fake-cli.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
// Slow enough (16 x 250 ms) that a second process started with the first meets it still running.
const CONFIG = 'name: fake\ntask: { type: fake }\nseed: 3\nstages:\n  - count: { steps: 16, delayMs: 250, checkpointEvery: 2 }\n';

function cli(args: string[], onSpawn?: (child: ChildProcess) => void): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', TSX, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout!.resume();
    onSpawn?.(child);
    child.on('exit', (code, signal) => resolve({ code, signal, stderr }));
  });
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 20));
}
const lockPid = (dir: string): number | null => {
  try {
    return (JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')) as { pid: number }).pid;
  } catch {
    return null;
  }
};
const progressed = (dir: string, step: number): boolean =>
  existsSync(join(dir, 'events.jsonl')) && readFileSync(join(dir, 'events.jsonl'), 'utf8').includes(`"type":"progress","stage":"count","step":${step}`);

describe('child processes', () => {
  const cfg = join(root, 'fake.yaml');
  writeFileSync(cfg, CONFIG);

  it('two resumes of one run started together: one finishes equal to a straight run, the other refuses', async () => {
    const ref = join(root, 'ref');
    expect((await cli(['run', cfg, '--out', ref, '--no-report'])).code).toBe(0);
    const dir = join(root, 'twice');
    const killed = await cli(['run', cfg, '--out', dir, '--no-report'], (c) => void until(() => progressed(dir, 3)).then(() => c.kill('SIGKILL')));
    expect(killed.signal).toBe('SIGKILL');
    expect(lockPid(dir)).not.toBeNull(); // the killed process left its lock behind: stale, taken over
    const pids: number[] = [];
    const results = await Promise.all([0, 1].map(() => cli(['resume', dir, '--no-report'], (c) => pids.push(c.pid!))));
    const winner = results.findIndex((r) => r.code === 0);
    const loser = 1 - winner;
    expect(results.map((r) => r.code).sort()).toEqual([0, 1]);
    expect(results[loser]!.stderr).toContain(`in use by pid ${pids[winner]} (resume, since`);
    expect(normalizedEvents(dir)).toEqual(normalizedEvents(ref));
    expect(metricsCsv(dir)).toBe(metricsCsv(ref));
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it('two run --out X started together: one runs, the other is refused and writes nothing', async () => {
    const dir = join(root, 'busy');
    const pids: number[] = [];
    const results = await Promise.all([0, 1].map(() => cli(['run', cfg, '--out', dir, '--no-report'], (c) => pids.push(c.pid!))));
    const winner = results.findIndex((r) => r.code === 0);
    expect(results.map((r) => r.code).sort()).toEqual([0, 1]);
    expect(results[1 - winner]!.stderr).toContain(`in use by pid ${pids[winner]} (run, since`);
    const started = readFileSync(join(dir, 'events.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"type":"run-started"'));
    expect(started).toHaveLength(1);
  });
});
