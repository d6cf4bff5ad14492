// Issue #15, both cores in every stage: the same pipeline with --threads 1 and --threads 2 through
// the CLI, on the embedded model with jobs large enough to be split (SPLIT_MIN_MACS).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseCsv } from './metrics-csv';
import type { RunRecord } from './run-dir';
import { spawnEmrl, TINY_DIAGNOSTICS, waitForEvent, type CliResult } from './testing/e2e-helpers';

const root = mkdtempSync(join(tmpdir(), 'emrl-threads-'));

// 32 rollouts per step (16 rows per thread) and ~40-token rows: every stage's jobs get split.
const PIPELINE = `name: threads-e2e
model: { type: embedded }
task: { type: modchain }
seed: 5
${TINY_DIAGNOSTICS}
stages:
  - select: { candidates: 8, samplesPerPrompt: 4, topN: 1 }
  - em: { steps: 2, rollouts: 32, prompt: selected }
  - grpo: { steps: 3, promptsPerStep: 4, groupSize: 8, numIterations: 2, beta: 0.04, checkpointEvery: 1 }
  - eval: { temperatures: [0, 1], samples: 2, split: test, limit: 16 }
`;

/** Columns that follow from the sampled tokens alone: equal when every row samples the same tokens. */
const SAMPLED = /^(reward|rewards\/|completions\/|eval\/|select\/(generations|tokens|top_p|top_variance)|em\/(answer_entropy|majority_share))/;

describe('--threads 2: every stage on two threads', () => {
  const runs: Record<string, CliResult> = {};
  const csv = (dir: string) => parseCsv(readFileSync(join(dir, 'metrics.csv'), 'utf8'));

  beforeAll(async () => {
    const file = join(root, 'p.yaml');
    writeFileSync(file, PIPELINE);
    for (const [name, threads] of [['one', '1'], ['two', '2'], ['again', '2']] as const) {
      runs[name] = await spawnEmrl(['run', file, '--out', join(root, name), '--threads', threads, '--no-report']);
    }
  }, 600_000);

  it('exits 0 and records the thread count (config.json and the backend line)', () => {
    for (const r of Object.values(runs)) expect(r.code, r.stderr).toBe(0);
    const rec = (name: string) => JSON.parse(readFileSync(join(root, name, 'config.json'), 'utf8')) as RunRecord;
    expect((rec('one').backend as { threads: unknown }).threads).toEqual({ requested: 1, used: 1 });
    expect((rec('two').backend as { threads: unknown }).threads).toEqual({ requested: 2, used: 2 });
    expect(rec('two').pipeline['threads']).toBe(2);
    expect(runs['two']!.stderr).toMatch(/^backend: .*threads: 2/m);
  });

  it('the training passes ran split (perf/threads = 2 on every em and grpo step)', () => {
    const trained = csv(join(root, 'two')).filter((r) => r.stage === 'em' || r.stage === 'grpo');
    expect(trained.length).toBe(5);
    for (const r of trained) expect(r.metrics['perf/threads']).toBe(2);
  });

  it('same samples as one thread, losses to float rounding; same numbers again on two threads', () => {
    const one = csv(join(root, 'one'));
    const two = csv(join(root, 'two'));
    const again = csv(join(root, 'again'));
    expect(two.map((r) => [r.stage, r.step])).toEqual(one.map((r) => [r.stage, r.step]));
    const stable = (h: string) => !h.startsWith('perf/') && !/seconds|time/.test(h);
    two.forEach((row, i) => {
      expect(Object.keys(row.metrics).sort()).toEqual(Object.keys(one[i]!.metrics).sort());
      for (const [h, v] of Object.entries(row.metrics)) {
        if (!stable(h)) continue;
        expect(again[i]!.metrics[h], `${h} repeated`).toBe(v); // bit for bit for the same thread count
        const ref = one[i]!.metrics[h]!;
        if (SAMPLED.test(h)) expect(v, h).toBe(ref);
        else expect(Math.abs(v - ref), h).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(ref)));
      }
    });
    // The printed eval table is the same.
    const table = (r: CliResult) => r.stdout.slice(r.stdout.indexOf('eval "eval"'));
    expect(table(runs['two']!)).toBe(table(runs['one']!));
  });

  it('kill -9 inside GRPO on two threads, then `emrl resume`: the straight two-thread run, bit for bit', async () => {
    const dir = join(root, 'killed');
    const first = await spawnEmrl(['run', join(root, 'p.yaml'), '--out', dir, '--threads', '2', '--no-report'], {
      onSpawn: (kill) => void waitForEvent(dir, ['"type":"checkpoint"', '"stage":"grpo"', '"step":1']).then(() => kill('SIGKILL')),
    });
    expect(first.code).not.toBe(0);
    const resumed = await spawnEmrl(['resume', dir, '--no-report']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/^backend: .*threads: 2/m); // the recorded thread count, again
    const stable = (rows: ReturnType<typeof csv>) => rows.map((r) => ({ ...r, metrics: Object.fromEntries(Object.entries(r.metrics).filter(([h]) => !h.startsWith('perf/') && !/seconds|time/.test(h))) }));
    expect(stable(csv(dir))).toEqual(stable(csv(join(root, 'two'))));
  }, 300_000);

  it('--threads takes a positive integer or auto, and says so', async () => {
    const r = await spawnEmrl(['run', join(root, 'p.yaml'), '--threads', '0', '--dry-run']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--threads.*"0".*positive integer.*auto/);
    const ok = await spawnEmrl(['run', join(root, 'p.yaml'), '--threads', 'auto', '--dry-run']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/threads: auto/);
  });
});
