// Sweeps through a real Redis (Debian's redis-server, started here on a free 127.0.0.1 port) with
// `emrl worker` processes on fake stages: parity with a local sweep, a worker killed with SIGKILL,
// a killed coordinator, a Redis restart, a poisoned cell, a wrong code version and forged jobs.
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../cli';
import { createFakeRegistry } from '../../testing/fake-stages';
import { createFakeRuntime } from '../../testing/fake-runtime';
import { killAll, startEmrl, type Proc } from '../../testing/queue-procs';
import { startTestRedis, type TestRedis } from '../../testing/redis-server';
import { RunDir } from '../../run-dir';
import { runSweep } from '../run-sweep';
import { summarizeSweep, type SweepSummary } from '../sweep-report';
import { CELL_QUEUE } from './cell-job';
import { enqueueCells, prepareQueuedSweep } from './enqueue';
import { runQueuedSweep } from './queued-sweep';
import { parseQueueUrl } from './redis-url';

const FAKE_WORKER = fileURLToPath(new URL('../../testing/fake-sweep-worker.ts', import.meta.url));
const PASSWORD = `pw-${process.pid}-${Date.now()}`;
// One fixed version for every process: the git-derived one hashes uncommitted edits, which may
// change while a test runs in a working tree (codeVersion itself is unit-tested).
const VERSION = `e2e-${process.pid}`;
const root = mkdtempSync(join(tmpdir(), 'emrl-queue-'));
const artifacts = join(root, 'shared');
const procs: Proc[] = [];
let redis: TestRedis;
let local: SweepSummary;
const coordinatorLog: string[] = [];

const sweepFile = (name: string, body: string): string => {
  writeFileSync(join(root, `${name}.yaml`), `name: ${name}\n${body}`);
  return join(root, `${name}.yaml`);
};
const GRID = 'axes:\n  count.steps: [4, 6]\nseeds: [1, 2]\n';
const IDS = ['count.steps-4_seed-1', 'count.steps-4_seed-2', 'count.steps-6_seed-1', 'count.steps-6_seed-2'];
const workerArgs = (lockMs: number): string[] => ['worker', '--queue', redis.url, '--work-dir', join(root, 'work'), '--lock-ms', String(lockMs), '--refuse-delay-ms', '500'];
const startWorker = (lockMs = 2000, env: Record<string, string> = {}): Proc => {
  // Refused cells come back after 500 ms (default 10 s) so the compatible worker gets them soon.
  const p = startEmrl(workerArgs(lockMs), { EMRL_REDIS_PASSWORD: PASSWORD, EMRL_CODE_VERSION: VERSION, ...env });
  procs.push(p);
  return p;
};
const coordinate = (file: string, out: string, extra: { attempts?: number } = {}) =>
  runQueuedSweep({
    file,
    registry: createFakeRegistry(),
    target: parseQueueUrl(redis.url.replace('redis://', `redis://:${PASSWORD}@`), {}),
    version: VERSION,
    dir: out,
    artifacts,
    attempts: extra.attempts ?? 2,
    retryFailed: false,
    pollMs: 200,
    onLog: (s) => coordinatorLog.push(s),
  });
/** How often each cell was reported finished (completed in Redis) across all workers. */
const finishedCounts = (): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const p of procs) for (const m of p.output().matchAll(/finished cell (\S+) \(job/g)) counts[m[1]!] = (counts[m[1]!] ?? 0) + 1;
  return counts;
};
async function runCliCapture(args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const sink = { write: (t: string) => ((out += t), true) } as unknown as NodeJS.WritableStream;
  const runtime = createFakeRuntime();
  const code = await runCli(['node', 'emrl', ...args], { runtime: () => runtime, stdout: sink, stderr: sink });
  return { code, out };
}
const byId = (s: SweepSummary): Record<string, Record<string, number>> => Object.fromEntries(s.cells.map((c) => [c.id, c.metrics]));

beforeAll(async () => {
  redis = await startTestRedis({ password: PASSWORD });
  writeFileSync(join(root, 'base.yaml'), 'task: { type: fake }\nstages:\n  - count: { steps: 4, delayMs: 50, checkpointEvery: 2 }\n  - probe: {}\n');
  writeFileSync(join(root, 'slow.yaml'), 'task: { type: fake }\nstages:\n  - count: { steps: 4, delayMs: 400, checkpointEvery: 2 }\n  - probe: {}\n');
  const file = sweepFile('toy', `base: base.yaml\n${GRID}`);
  const r = await runSweep({ file, registry: createFakeRegistry(), dir: join(root, 'local'), concurrency: 2, workerEntry: FAKE_WORKER });
  expect(r.failed).toEqual([]);
  local = summarizeSweep(join(root, 'local'));
});

afterAll(async () => {
  await killAll(procs);
  await redis?.stop();
});

describe('sweep --queue on a real Redis', () => {
  it('3 worker processes run the grid; the report equals the local sweep number for number; no password anywhere', { timeout: 120_000 }, async () => {
    const workers = [startWorker(), startWorker(), startWorker()];
    await Promise.all(workers.map((w) => w.waitFor(/waiting for cells/)));
    const out = join(root, 'queued');
    const r = await coordinate(sweepFile('toy', `base: base.yaml\n${GRID}`), out);
    expect(r.failed).toEqual([]);
    expect(r.completed.sort()).toEqual(IDS);
    const queued = summarizeSweep(out);
    expect(queued.groups).toEqual(local.groups);
    expect(queued.cells).toEqual(local.cells);
    expect(queued.columns).toEqual(local.columns);
    expect(finishedCounts()).toEqual(Object.fromEntries(IDS.map((id) => [id, 1])));
    const busy = workers.filter((w) => /finished cell/.test(w.output()));
    expect(busy.length).toBeGreaterThanOrEqual(2);
    // Run directories were written to the shared artifacts dir, each finished.
    for (const id of IDS) expect(RunDir.open(join(artifacts, 'toy', 'cells', id)).readState()?.finished).toBe(true);
    // Enqueueing the same sweep again is a no-op.
    const again = await coordinate(sweepFile('toy', `base: base.yaml\n${GRID}`), out);
    expect(again.completed.sort()).toEqual(IDS);
    expect(coordinatorLog.join('\n')).toMatch(/sweep toy: 4 cell\(s\) on redis:\/\/:\*\*\*@127\.0\.0\.1:\d+: 0 enqueued, 4 already reported back/);
    // The password travelled only to Redis.
    const texts = [...coordinatorLog, ...workers.map((w) => w.output())];
    const walk = (d: string): string[] => readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : [join(d, f)]));
    for (const f of [...walk(out), ...walk(artifacts)]) texts.push(readFileSync(f, 'utf8'));
    expect(texts.filter((t) => t.includes(PASSWORD))).toEqual([]);
    expect(coordinatorLog.join('\n')).toContain('redis://:***@127.0.0.1');
  });

  it('a worker killed with SIGKILL mid-cell: another resumes the cell from its checkpoint; nothing lost or duplicated', { timeout: 120_000 }, async () => {
    const before = finishedCounts();
    const workers = procs.filter((p) => p.child.exitCode === null);
    expect(workers).toHaveLength(3);
    const out = join(root, 'kill');
    const sweep = coordinate(sweepFile('toy-kill', `base: slow.yaml\n${GRID}`), out);
    // The first worker to take a 6-step cell is killed once that cell has written a checkpoint.
    const [victim, cell, jobId] = await Promise.race(workers.map((w) => w.waitFor(/took cell (count\.steps-6_seed-\d) \(job (\S+), attempt 1\) in \S+toy-kill/).then((m) => [w, m[1]!, m[2]!] as const)));
    const events = join(artifacts, 'toy-kill', 'cells', cell, 'events.jsonl');
    const t0 = Date.now();
    while (!(existsSync(events) && readFileSync(events, 'utf8').includes('"type":"checkpoint"')) && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 20));
    expect(readFileSync(events, 'utf8')).not.toContain('"type":"run-finished"');
    victim.child.kill('SIGKILL');
    expect(await victim.exited).toBe(-1);

    const r = await sweep;
    expect(r.failed).toEqual([]);
    expect(r.completed.sort()).toEqual(IDS);
    const after = finishedCounts();
    expect(Object.fromEntries(IDS.map((id) => [id, (after[id] ?? 0) - (before[id] ?? 0)]))).toEqual(Object.fromEntries(IDS.map((id) => [id, 1])));
    expect(victim.output()).not.toContain(`finished cell ${cell} (job ${jobId})`);
    expect(workers.filter((w) => w !== victim).some((w) => w.output().includes(`finished cell ${cell} (job ${jobId})`))).toBe(true);
    const resumed = RunDir.open(join(artifacts, 'toy-kill', 'cells', cell)).readEvents().filter((e) => e['type'] === 'stage-resumed');
    expect(resumed.length).toBe(1);
    expect(Number(resumed[0]!['fromStep'])).toBeGreaterThanOrEqual(2);
    expect(byId(summarizeSweep(out))).toEqual(byId(local));
  });

  it('coordinator killed and restarted, Redis restarted mid-sweep, a poisoned cell fails with its message', { timeout: 120_000 }, async () => {
    const alive = procs.filter((p) => p.child.exitCode === null && p.child.signalCode === null);
    expect(alive).toHaveLength(2);
    const out = join(root, 'faults');
    const file = sweepFile('toy-faults', 'base: slow.yaml\ncurricula:\n  ok: [count, probe]\n  poisoned:\n    - count: { steps: 4, failAt: 2, delayMs: 50 }\nseeds: [1]\n');
    const args = ['sweep', file, '--queue', redis.url, '--out', out, '--artifacts', artifacts, '--attempts', '2'];
    const first = startEmrl(args, { EMRL_REDIS_PASSWORD: PASSWORD, EMRL_CODE_VERSION: VERSION });
    procs.push(first);
    await first.waitFor(/cell ok_seed-1: done by/);
    first.child.kill('SIGKILL');
    await first.exited;
    await redis.stop();
    await new Promise((r) => setTimeout(r, 500));
    await redis.start();

    const second = startEmrl(args, { EMRL_REDIS_PASSWORD: PASSWORD, EMRL_CODE_VERSION: VERSION });
    procs.push(second);
    expect(await second.exited).toBe(1);
    const log = second.output();
    // Every job survived the Redis restart (append-only file): nothing had to be enqueued again.
    expect(log).toMatch(/2 cell\(s\) on redis:\/\/:\*\*\*@127\.0\.0\.1:\d+: 0 enqueued, 1 already reported back/);
    expect(log).toMatch(/cell poisoned_seed-1: failed after 2 attempt\(s\): fake failure at step 2/);
    expect(log).toMatch(/cell poisoned_seed-1 failed: fake failure at step 2/);
    expect(log).toContain(`sweep report: ${join(out, 'report.html')}`);
    const s = summarizeSweep(out);
    expect(s.cells.map((c) => [c.id, c.complete])).toEqual([
      ['ok_seed-1', true],
      ['poisoned_seed-1', false],
    ]);
    // The ok cell is the local sweep's count.steps-4 seed-1 cell under another name: same numbers.
    expect(byId(s)['ok_seed-1']).toEqual(byId(local)['count.steps-4_seed-1']);
    const counts = finishedCounts();
    expect([counts['ok_seed-1'], counts['poisoned_seed-1'] ?? 0]).toEqual([1, 0]);
    // Graceful stop of the remaining workers (SIGTERM): exit 130.
    for (const w of alive) w.child.kill('SIGTERM');
    expect(await Promise.all(alive.map((w) => w.exited))).toEqual([130, 130]);
  });

  it('SIGTERM stops a connected worker whose Redis went away (exit 130 within 20 s)', { timeout: 60_000 }, async () => {
    const w = startWorker();
    await w.waitFor(/waiting for cells/);
    await new Promise((r) => setTimeout(r, 1500)); // connected and blocked waiting for a job
    await redis.stop();
    try {
      await w.waitFor(/queue error/, 20_000);
      w.child.kill('SIGTERM');
      const code = await Promise.race([w.exited, new Promise<string>((r) => setTimeout(() => r('still running after 20 s'), 20_000))]);
      expect(code).toBe(130);
    } finally {
      await redis.start();
    }
  });

  it('a worker on another code version refuses the cell and keeps serving; forged jobs never run; cancel removes a stale sweep', { timeout: 90_000 }, async () => {
    const old = startWorker(2000, { EMRL_CODE_VERSION: 'old-checkout' });
    await old.waitFor(/waiting for cells/);
    const out = join(root, 'version');
    const sweep = coordinate(sweepFile('toy-version', 'base: base.yaml\nseeds: [3]\n'), out);
    await old.waitFor(new RegExp(`refusing job cell-\\w+: sweep toy-version needs code version ${VERSION}, this worker runs old-checkout; check out that commit`));

    const queue = new Queue(CELL_QUEUE, { connection: { host: '127.0.0.1', port: redis.port, password: PASSWORD }, prefix: 'emrl' });
    const forged = { sweep: 'forged', cellId: 'x_seed-0', codeVersion: VERSION, artifacts: null, pipeline: { task: { type: 'fake' }, stages: [{ count: { stepz: 3 } }] } };
    const badConfig = await queue.add('x', forged, { jobId: 'forged-1', attempts: 3 });
    const notACell = await queue.add('y', { ...forged, cellId: 'y_seed-0', shell: 'touch /tmp/pwned' }, { jobId: 'forged-2', attempts: 3 });
    const worker = startWorker();
    const r = await sweep;
    expect(r.completed).toEqual(['base_seed-3']);
    expect(old.output()).not.toMatch(/took cell/);
    expect(old.child.exitCode).toBe(null); // refused, still serving
    // Either worker may take a forged job (they are not for a code version): both must refuse to run it.
    for (const id of [badConfig.id!, notACell.id!]) {
      const t0 = Date.now();
      while ((await (await queue.getJob(id))!.getState()) !== 'failed' && Date.now() - t0 < 30_000) await new Promise((res) => setTimeout(res, 100));
    }
    const [a, b] = await Promise.all([queue.getJob(badConfig.id!), queue.getJob(notACell.id!)]);
    expect(await a!.getState()).toBe('failed');
    expect(a!.attemptsMade).toBe(1);
    expect(a!.failedReason).toMatch(/stages\[0\]\.count\.stepz: unknown key \(did you mean "steps"\?\)/);
    expect(await b!.getState()).toBe('failed');
    expect(b!.failedReason).toMatch(/is not an emrl cell/);
    expect(worker.output() + old.output()).not.toMatch(/took cell [xy]_seed-0/);

    // A stale sweep from an old checkout: refused by current workers until cancelled.
    const staleFile = sweepFile('toy-stale', 'base: base.yaml\nseeds: [4]\n');
    const stale = prepareQueuedSweep({ file: staleFile, registry: createFakeRegistry(), dir: join(root, 'stale'), version: 'stale-version', queueDisplay: 'test', artifacts: null });
    expect(await enqueueCells(queue, stale, { version: 'stale-version', artifacts: null, attempts: 1, retryFailed: false })).toEqual({ added: 1, retried: 0, alreadyDone: 0 });
    await worker.waitFor(/refusing job cell-\w+: sweep toy-stale needs code version stale-version/);
    const cancel = await runCliCapture(['sweep', 'cancel', staleFile, '--queue', redis.url.replace('redis://', `redis://:${PASSWORD}@`)]);
    expect(cancel.code).toBe(0);
    expect(cancel.out).toContain('removed 1 job(s) of sweep toy-stale from redis://:***@127.0.0.1');
    expect(await queue.getJob(stale.cells[0]!.jobId)).toBeUndefined();
    await queue.close();
  });
});
