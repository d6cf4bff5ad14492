import { describe, expect, it } from 'vitest';
import { canonicalJson, CellJobDataSchema, cellJobId } from './cell-job';
import { codeVersion } from './code-version';
import { parseQueueUrl, redactUrl } from './redis-url';

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
