// End to end: a tiny curriculum sweep (2 curricula x 2 seeds) with the REAL stages in forked
// worker processes; mean +- std across seeds; rerunning skips complete cells and redoes missing ones.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from './cli';
import { RunDir } from './run-dir';
import { cellDir, runSweep } from './sweep/run-sweep';
import type { SweepSummary } from './sweep/sweep-report';
import { deterministicMetrics, emrlInProcess, TINY_DIAGNOSTICS } from './testing/e2e-helpers';
import { wireRuntime } from './wiring';

const root = mkdtempSync(join(tmpdir(), 'emrl-e2e-sweep-'));
const BASE = `name: tiny-base
model: { type: embedded }
task: { type: modchain }
seed: 0
${TINY_DIAGNOSTICS}
stages:
  - em: { steps: 2, rollouts: 4, prompt: { split: train, count: 1 } }
  - grpo: { steps: 2, promptsPerStep: 2, groupSize: 4 }
  - eval: { temperatures: [0, 1], samples: 2, split: test, limit: 6 }
`;
const SWEEP = `name: tiny-sweep
base: tiny-base.yaml
curricula:
  em-then-grpo: [em, grpo, eval]
  grpo-only: [grpo, eval]
seeds: [1, 2]
concurrency: 2
`;
const IDS = ['em-then-grpo_seed-1', 'em-then-grpo_seed-2', 'grpo-only_seed-1', 'grpo-only_seed-2'];

/** Final-boundary greedy accuracy of one cell, read from its own events.jsonl. */
function finalAcc0(dir: string): number {
  const diags = RunDir.open(dir).readEvents().filter((e) => e['type'] === 'diagnostics');
  const last = diags.at(-1)!['diagnostics'] as { accuracyByTemperature: { temperature: number; accuracy: number }[] };
  return last.accuracyByTemperature.find((a) => a.temperature === 0)!.accuracy;
}

describe('emrl sweep with real stages', () => {
  const sweepFile = join(root, 'tiny-sweep.yaml');
  const dir = join(root, 'out');
  let first: Awaited<ReturnType<typeof emrlInProcess>>;

  beforeAll(async () => {
    writeFileSync(join(root, 'tiny-base.yaml'), BASE);
    writeFileSync(sweepFile, SWEEP);
    first = await emrlInProcess(['sweep', sweepFile, '--out', dir]);
  });

  it('runs every cell in parallel workers and writes the sweep report', () => {
    expect(first.err).not.toMatch(/failed|error/i);
    expect(first.code).toBe(EXIT.ok);
    expect(first.err).toContain('sweep tiny-sweep: 4 cell(s) to run, concurrency 2');
    expect(first.out).toContain(`sweep report: ${join(dir, 'report.html')}`);
    for (const id of IDS) {
      const state = RunDir.open(cellDir(dir, id)).readState()!;
      expect(state.finished, id).toBe(true);
      expect(state.stages.map((s) => s.kind)).toEqual(id.startsWith('em-then') ? ['em', 'grpo', 'eval'] : ['grpo', 'eval']);
      expect(RunDir.open(cellDir(dir, id)).readConfig().seed).toBe(Number(id.slice(-1)));
    }
    expect((readFileSync(join(dir, 'report.html'), 'utf8').match(/<svg[\s>]/g) ?? []).length).toBeGreaterThan(0);
  });

  it('aggregates mean +- std across seeds per curriculum (checked against the cells)', () => {
    const s = JSON.parse(readFileSync(join(dir, 'sweep-summary.json'), 'utf8')) as SweepSummary;
    expect(s.groups.map((g) => g.group).sort()).toEqual(['em-then-grpo', 'grpo-only']);
    for (const g of s.groups) {
      expect(g.seeds.sort()).toEqual([1, 2]);
      const xs = [1, 2].map((seed) => finalAcc0(cellDir(dir, `${g.group}_seed-${seed}`)));
      const mean = (xs[0]! + xs[1]!) / 2;
      const std = Math.abs(xs[0]! - xs[1]!) / Math.SQRT2; // sample std of two values
      expect(g.metrics['acc@T=0']!.mean).toBeCloseTo(mean, 12);
      expect(g.metrics['acc@T=0']!.std).toBeCloseTo(std, 12);
    }
    const md = readFileSync(join(dir, 'summary.md'), 'utf8');
    expect(md).toMatch(/\| em-then-grpo \| 2 \| \S+ ± \S+/);
    expect(md).toMatch(/\| grpo-only \| 2 \| \S+ ± \S+/);
  });

  it('rerunning skips complete cells; a missing cell is run again with the same results', async () => {
    const again = await emrlInProcess(['sweep', sweepFile, '--out', dir]);
    expect(again.code).toBe(EXIT.ok);
    expect(again.err).toContain('4 cell(s) already complete, skipped');
    expect(again.err).toContain('0 cell(s) to run');

    const redo = 'grpo-only_seed-2';
    const before = deterministicMetrics(cellDir(dir, redo));
    rmSync(cellDir(dir, redo), { recursive: true });
    const r = await runSweep({ file: sweepFile, registry: wireRuntime().registry, dir });
    expect(r.skipped.sort()).toEqual(IDS.filter((id) => id !== redo));
    expect(r.ran).toEqual([redo]);
    expect(r.failed).toEqual([]);
    expect(deterministicMetrics(cellDir(dir, redo))).toEqual(before);
  });
});
