import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadRun } from '../report/load-run';
import { summarizeRun } from '../report/summary';
import { createFakeRegistry } from '../testing/fake-stages';
import { stat } from './aggregate';
import { cellDir, isCellComplete, runSweep } from './run-sweep';
import { expandSweep, loadSweepConfig } from './sweep-config';
import { summarizeSweep, writeSweepReport } from './sweep-report';

const WORKER = fileURLToPath(new URL('../testing/fake-sweep-worker.ts', import.meta.url));
const CLI = fileURLToPath(new URL('../testing/fake-cli.ts', import.meta.url));

function writeSweep(delayMs: number): string {
  const root = mkdtempSync(join(tmpdir(), 'emrl-sweep-'));
  writeFileSync(join(root, 'base.yaml'), `task: { type: fake }\nstages:\n  - count: { steps: 3, delayMs: ${delayMs} }\n  - probe: {}\n`);
  writeFileSync(
    join(root, 'sweep.yaml'),
    `name: toy\nbase: base.yaml\ncurricula:\n  train-probe: [count, probe]\n  probe-only: [probe]\naxes:\n  count.steps: [2, 3]\nseeds: [1, 2]\nconcurrency: 2\n`,
  );
  return root;
}

describe('sweep', () => {
  it('expands the grid with stable ids and collapses axes that do not apply', () => {
    const root = writeSweep(0);
    const { config, base } = loadSweepConfig(join(root, 'sweep.yaml'));
    const cells = expandSweep(config, base);
    expect(cells.map((c) => c.id)).toEqual([
      'train-probe_count.steps-2_seed-1',
      'train-probe_count.steps-2_seed-2',
      'train-probe_count.steps-3_seed-1',
      'train-probe_count.steps-3_seed-2',
      'probe-only_seed-1',
      'probe-only_seed-2',
    ]);
    expect(cells[2]!.pipeline['stages']).toEqual([{ count: { steps: 3, delayMs: 0 } }, { probe: {} }]);
    expect(cells[4]!.axes).toEqual({ 'count.steps': null });
    expect(expandSweep(config, base).map((c) => c.id)).toEqual(cells.map((c) => c.id));
  });

  it('resolves relative task.path / model.path axis values against the sweep file folder', () => {
    const root = writeSweep(0);
    const { config, base } = loadSweepConfig(join(root, 'sweep.yaml'));
    const withPaths = { ...config, curricula: undefined, axes: { 'task.path': ['data/a.jsonl', '/abs/b.jsonl'] } };
    const cells = expandSweep(withPaths, base, join(root, 'sweep.yaml'));
    expect(cells.map((c) => (c.pipeline['task'] as { path: string }).path)).toEqual([join(root, 'data/a.jsonl'), join(root, 'data/a.jsonl'), '/abs/b.jsonl', '/abs/b.jsonl']);
    expect(cells[0]!.id).toBe('task.path-data-a.jsonl_seed-1'); // ids keep the value as written
  });

  it('rejects a bad cell before starting any worker', async () => {
    const root = writeSweep(0);
    writeFileSync(join(root, 'bad.yaml'), 'base: base.yaml\naxes:\n  count.stepz: [1]\n');
    await expect(runSweep({ file: join(root, 'bad.yaml'), registry: createFakeRegistry(), dir: join(root, 'out'), workerEntry: WORKER })).rejects.toThrow(
      /\(cell count\.stepz-1_seed-0\): stages\[0\]\.count\.stepz: unknown key \(did you mean "steps"\?\)/,
    );
  });

  it('runs cells in worker processes, skips complete ones, and aggregates mean ± std across seeds', async () => {
    const root = writeSweep(0);
    const dir = join(root, 'out');
    const first = await runSweep({ file: join(root, 'sweep.yaml'), registry: createFakeRegistry(), dir, workerEntry: WORKER });
    expect(first.failed).toEqual([]);
    expect(first.ran.sort()).toHaveLength(6);
    const again = await runSweep({ file: join(root, 'sweep.yaml'), registry: createFakeRegistry(), dir, workerEntry: WORKER });
    expect(again.ran).toEqual([]);
    expect(again.skipped).toHaveLength(6);

    const s = summarizeSweep(dir);
    const group = s.groups.find((g) => g.group === 'train-probe_count.steps-3')!;
    expect(group.seeds).toEqual([1, 2]);
    // Independent recomputation from the two cells' own summaries.
    const acc = [1, 2].map((seed) => summarizeRun(loadRun(cellDir(dir, `train-probe_count.steps-3_seed-${seed}`))).boundaries.at(-1)!.accuracyByTemperature['0']!);
    const mean = (acc[0]! + acc[1]!) / 2;
    expect(group.metrics['acc@T=0']!.mean).toBeCloseTo(mean, 12);
    expect(group.metrics['acc@T=0']!.std).toBeCloseTo(Math.abs(acc[0]! - acc[1]!) / Math.SQRT2, 12);
    expect(stat([1, 2, 3, 4])).toEqual({ mean: 2.5, std: Math.sqrt(5 / 3), n: 4, min: 1, max: 4 });

    const files = await writeSweepReport(dir);
    const html = readFileSync(files.html, 'utf8');
    // No eval stage in these cells: one plot per probe temperature, and the paired comparison.
    expect((html.match(/<svg/g) ?? []).length).toBe(3);
    expect(html).toMatch(/pairwise differences in probe acc@T=0 \(final boundary\)/);
    expect(html).toContain('train-probe_count.steps-3');
    expect(readFileSync(files.markdown, 'utf8')).toMatch(/\| train-probe_count\.steps-2 \| 2 \| [\d.]+ ± [\d.]+ \|/);
  });

  it('an interrupted sweep (SIGINT) resumes by rerunning the same command', async () => {
    const root = writeSweep(100);
    const dir = join(root, 'out');
    const run = (): Promise<{ code: number | null; stderr: string }> =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), CLI, 'sweep', join(root, 'sweep.yaml'), '--out', dir, '-j', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stderr = '';
        let interrupted = false;
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.stdout.resume();
        const poll = setInterval(() => {
          const cells = existsSync(join(dir, 'cells')) ? readdirSync(join(dir, 'cells')) : [];
          if (!interrupted && cells.some((c) => isCellComplete(join(dir, 'cells', c)))) {
            interrupted = true;
            child.kill('SIGINT');
          }
        }, 30);
        child.on('exit', (code) => {
          clearInterval(poll);
          resolve({ code, stderr });
        });
      });
    const first = await run();
    expect(first.code).toBe(130);
    expect(first.stderr).toContain('sweep interrupted');
    const done = readdirSync(join(dir, 'cells')).filter((c) => isCellComplete(join(dir, 'cells', c)));
    expect(done.length).toBeGreaterThan(0);
    expect(done.length).toBeLessThan(6);

    const second = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), CLI, 'sweep', join(root, 'sweep.yaml'), '--out', dir, '-j', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdout.resume();
      child.on('exit', (code) => resolve({ code, stderr }));
    });
    expect(second.code).toBe(0);
    expect(second.stderr).toContain(`${done.length} cell(s) already complete, skipped`);
    expect(readdirSync(join(dir, 'cells')).every((c) => isCellComplete(join(dir, 'cells', c)))).toBe(true);
  });
});

describe('sweep --set and progress', () => {
  it('applies --set to every cell, records it, logs progress with an ETA, and refuses a rerun with other overrides', async () => {
    const root = writeSweep(0);
    const dir = join(root, 'out');
    const lines: string[] = [];
    const r = await runSweep({ file: join(root, 'sweep.yaml'), registry: createFakeRegistry(), dir, workerEntry: WORKER, overrides: ['probe.temperatures=[0.5]'], onLog: (l) => lines.push(l) });
    expect(r.failed).toEqual([]);
    const record = JSON.parse(readFileSync(join(dir, 'sweep.json'), 'utf8')) as { overrides: string[]; cells: { pipeline: { stages: Record<string, { temperatures?: number[] }>[] } }[] };
    expect(record.overrides).toEqual(['probe.temperatures=[0.5]']);
    for (const c of record.cells) expect(c.pipeline.stages.find((s) => 'probe' in s)!['probe']!.temperatures).toEqual([0.5]);
    const progress = lines.filter((l) => /^sweep toy: \d+\/6 cells done/.test(l));
    expect(progress).toHaveLength(6);
    expect(progress[0]).toMatch(/ETA \d+s$/);
    expect(progress.at(-1)).toMatch(/^sweep toy: 6\/6 cells done, \d+s elapsed$/);
    await expect(runSweep({ file: join(root, 'sweep.yaml'), registry: createFakeRegistry(), dir, workerEntry: WORKER })).rejects.toThrow(/was run with --set \[probe\.temperatures=\[0\.5\]\], not \[none\]/);
    await expect(runSweep({ file: join(root, 'sweep.yaml'), registry: createFakeRegistry(), dir: join(root, 'o2'), workerEntry: WORKER, overrides: ['nokind.x=1'] })).rejects.toThrow(/"nokind\.x": no stage of kind "nokind"/);
  });
});
