import { describe, expect, it } from 'vitest';
import { EXIT, runCli } from '../../cli';
import { createFakeRuntime } from '../../testing/fake-runtime';
import { canonicalJson, CellJobDataSchema, cellJobId } from './cell-job';
import { codeVersion } from './code-version';
import { parseQueueUrl, redactUrl } from './redis-url';
import { formatStatus, sweepStatus } from './sweep-status';

describe('queue URL', () => {
  it('parses host, port, db, prefix and TLS, and never shows the password', () => {
    const t = parseQueueUrl('rediss://alice:s3cr%40t@redis.example.org:6380/2?prefix=lab', {});
    expect(t.connection).toMatchObject({ host: 'redis.example.org', port: 6380, db: 2, username: 'alice', password: 's3cr@t', tls: { servername: 'redis.example.org' } });
    expect(t.prefix).toBe('lab');
    expect(t.display).toBe('rediss://alice:***@redis.example.org:6380/2?prefix=lab');
    expect(t.display).not.toContain('s3cr');
  });

  it('takes the password from EMRL_REDIS_PASSWORD when the URL has none', () => {
    const t = parseQueueUrl('redis://10.0.0.5', { EMRL_REDIS_PASSWORD: 'pw-from-env' });
    expect(t.connection).toMatchObject({ host: '10.0.0.5', port: 6379, db: 0, password: 'pw-from-env' });
    expect(t.connection).not.toHaveProperty('tls');
    expect(t.display).toBe('redis://:***@10.0.0.5');
  });

  it('rejects other schemes and bad databases with the flag and an example, without echoing the password', () => {
    expect(() => parseQueueUrl('http://:pw@host:1', {})).toThrow(/--queue[\s\S]*unsupported scheme "http:"[\s\S]*redis:\/\/127\.0\.0\.1:6379/);
    expect(() => parseQueueUrl('redis://host/x', {})).toThrow(/database "x"/);
    expect(() => parseQueueUrl('not a url :pw@', {})).toThrow(/is not a URL/);
    expect(redactUrl('redis://u:hunter2@h:1')).toBe('redis://u:***@h:1');
  });
});

describe('cell jobs', () => {
  const pipeline = { name: 'toy_a', seed: 1, stages: [{ count: { steps: 2, lr: 0.1 } }], task: { type: 'fake' } };

  it('job ids hash the resolved config and code version, independent of key order', () => {
    const reordered = { task: { type: 'fake' }, stages: [{ count: { lr: 0.1, steps: 2 } }], seed: 1, name: 'toy_a' };
    expect(canonicalJson(reordered)).toBe(canonicalJson(pipeline));
    expect(cellJobId(reordered, 'v1')).toBe(cellJobId(pipeline, 'v1'));
    expect(cellJobId(pipeline, 'v1')).toMatch(/^cell-[0-9a-f]{32}$/);
    expect(cellJobId(pipeline, 'v2')).not.toBe(cellJobId(pipeline, 'v1'));
    expect(cellJobId({ ...pipeline, seed: 2 }, 'v1')).not.toBe(cellJobId(pipeline, 'v1'));
    // Array order is meaningful (stage order), so it must change the id.
    expect(canonicalJson({ a: [1, 2] })).not.toBe(canonicalJson({ a: [2, 1] }));
  });

  it('the job schema refuses data that is not an emrl cell', () => {
    const ok = { sweep: 'toy', cellId: 'a_seed-1', codeVersion: 'v1', pipeline, artifacts: null };
    expect(CellJobDataSchema.safeParse(ok).success).toBe(true);
    expect(CellJobDataSchema.safeParse({ ...ok, cellId: '../../etc' }).success).toBe(false);
    expect(CellJobDataSchema.safeParse({ ...ok, shell: 'rm -rf /' }).success).toBe(false);
    expect(CellJobDataSchema.safeParse({ ...ok, pipeline: 'x' }).success).toBe(false);
  });

  it('code version: git commit (+ dirty hash), or EMRL_CODE_VERSION when set', () => {
    expect(codeVersion({ EMRL_CODE_VERSION: 'release-7' })).toBe('release-7');
    expect(codeVersion({})).toMatch(/^[0-9a-f]{40}(\+dirty\.[0-9a-f]{12})?$/);
  });
});

describe('sweep status', () => {
  it('counts states and estimates the ETA from the mean finished cell and the live workers', async () => {
    const now = 1_000_000;
    const job = (state: string, processedOn?: number, finishedOn?: number, extra: Record<string, unknown> = {}) => ({
      getState: () => Promise.resolve(state),
      attemptsMade: state === 'waiting' ? 0 : 1,
      progress: { worker: 'b:7' },
      processedOn,
      finishedOn,
      failedReason: 'boom',
      ...extra,
    });
    const jobs: Record<string, unknown> = {
      j1: job('completed', now - 60_000, now - 50_000), // 10 s
      j2: job('completed', now - 40_000, now - 20_000), // 20 s
      j3: job('active', now - 5_000),
      j4: job('waiting'),
      j5: job('waiting'),
      j6: job('failed', now - 9_000, now - 8_000),
    };
    const queue = { getJob: (id: string) => Promise.resolve(jobs[id]), getWorkers: () => Promise.resolve([{}, {}]) };
    const cells = ['a', 'b', 'c', 'd', 'e', 'f'].map((id, i) => ({ cell: { id } as never, jobId: `j${i + 1}` }));
    const s = await sweepStatus(queue as never, { dir: '/nonexistent', cells }, now);
    expect(s.counts).toEqual({ done: 2, running: 1, failed: 1, waiting: 2, missing: 0 });
    // Mean finished cell 15 s; the running one has ~10 s left, two waiting need 30 s; 2 workers.
    expect(s.etaSeconds).toBeCloseTo((15 - 5 + 2 * 15) / 2, 9);
    expect(s.cells[5]).toEqual({ id: 'f', state: 'failed', attempts: 1, worker: 'b:7', seconds: 1, error: 'boom' });
    const lines = formatStatus(s);
    expect(lines[0]).toBe('2 done, 1 running, 1 failed, 2 waiting; ETA ~20 s with 2 worker(s)');
    expect(lines[6]).toMatch(/^f +failed +attempts 1 {2}b:7 {2}1 s {2}error: boom$/);
  });
});

describe('queue commands', () => {
  const emrl = async (args: string[]): Promise<{ code: number; out: string; err: string }> => {
    let out = '';
    let err = '';
    const sink = (f: (s: string) => void) => ({ write: (s: string) => (f(s), true) }) as unknown as NodeJS.WritableStream;
    const runtime = createFakeRuntime();
    const code = await runCli(['node', 'emrl', ...args], { runtime: () => runtime, stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)) });
    return { code, out, err };
  };

  it('help with examples; a bad or missing --queue exits 2 naming the flag', async () => {
    for (const args of [['worker', '--help'], ['sweep', 'status', '--help'], ['sweep', '--help']]) {
      const r = await emrl(args);
      expect(r.code, args.join(' ')).toBe(EXIT.ok);
      expect(r.out, args.join(' ')).toMatch(/Examples:[\s\S]*--queue redis:\/\//);
    }
    expect((await emrl(['worker'])).err).toContain("required option '--queue <url>' not specified");
    const bad = await emrl(['worker', '--queue', 'http://:secret@h:1']);
    expect(bad.code).toBe(EXIT.badInput);
    expect(bad.err).toContain('--queue: unsupported scheme "http:"');
    expect(bad.err).not.toContain('secret');
    const status = await emrl(['sweep', 'status', 'x.yaml']);
    expect(status.code).toBe(EXIT.badInput);
    expect(status.err).toContain('--queue: give the queue URL the sweep was started with');
  });
});
