// A sweep over TLS (rediss://) with a password: a TLS-only redis-server on a free port, the
// coordinator and a worker in this process trusting the test CA through EMRL_REDIS_CA.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFakeRegistry } from '../../testing/fake-stages';
import { startTestRedis, type TestRedis } from '../../testing/redis-server';
import { summarizeSweep } from '../sweep-report';
import { runQueuedSweep } from './queued-sweep';
import { startQueueWorker, type QueueWorkerHandle } from './queue-worker';
import { parseQueueUrl } from './redis-url';

const TLS = { cert: fileURLToPath(new URL('../../testing/fixtures/tls/cert.pem', import.meta.url)), key: fileURLToPath(new URL('../../testing/fixtures/tls/key.pem', import.meta.url)) };
const FAKE_WORKER = fileURLToPath(new URL('../../testing/fake-sweep-worker.ts', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'emrl-queue-tls-'));
let redis: TestRedis;
let worker: QueueWorkerHandle | undefined;

beforeAll(async () => {
  redis = await startTestRedis({ password: 'tls-pw', tls: TLS });
});
afterAll(async () => {
  worker?.stop();
  await worker?.stopped;
  await redis?.stop();
});

describe('sweep --queue over TLS', () => {
  it('rediss:// with EMRL_REDIS_CA: password from the env; the cell runs and its result comes back; an unreadable CA file is a clear error', { timeout: 60_000 }, async () => {
    expect(redis.url).toMatch(/^rediss:\/\/localhost:\d+$/);
    const env = { EMRL_REDIS_CA: TLS.cert, EMRL_REDIS_PASSWORD: 'tls-pw' };
    const target = parseQueueUrl(redis.url, env);
    const log: string[] = [];
    worker = startQueueWorker({ target, registry: createFakeRegistry(), version: 'tls-test', cellEntry: FAKE_WORKER, workDir: join(root, 'work'), concurrency: 1, lockMs: 5000, refuseDelayMs: 500, onLog: (s) => log.push(s) });
    writeFileSync(join(root, 'base.yaml'), 'task: { type: fake }\nstages:\n  - count: { steps: 2 }\n');
    writeFileSync(join(root, 'tls.yaml'), 'name: tls\nbase: base.yaml\nseeds: [5]\n');
    const r = await runQueuedSweep({ file: join(root, 'tls.yaml'), registry: createFakeRegistry(), target, version: 'tls-test', dir: join(root, 'out'), attempts: 1, retryFailed: false, pollMs: 200, onLog: (s) => log.push(s) });
    expect(r.failed).toEqual([]);
    expect(r.completed).toEqual(['base_seed-5']);
    expect(summarizeSweep(join(root, 'out')).cells[0]!.complete).toBe(true);
    expect(log.join('\n')).toContain(`finished cell base_seed-5`);
    expect(log.join('\n')).not.toContain('tls-pw');
    expect(() => parseQueueUrl(redis.url, { EMRL_REDIS_CA: join(root, 'missing.pem') })).toThrow(/EMRL_REDIS_CA: cannot read the CA certificate .*missing\.pem/);
  });
});
