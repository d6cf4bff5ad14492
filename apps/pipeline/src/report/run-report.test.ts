import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom } from 'rxjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Stage } from '@emrl/rl-grpo';
import { buildRunRecord } from '../run-record';
import { RunDir } from '../run-dir';
import { runPipeline } from '../scheduler';
import { countStageFactory, fakeDiagnose, fakePolicy, fakeTask, probeStageFactory } from '../testing/fake-stages';
import { DiagnosticsRecordSchema } from './diagnostics-schema';
import { writeRunReport } from './run-report';
import type { RunSummary } from './summary';

/** A synthetic run: count -> probe -> count with fake diagnostics at every boundary. */
async function syntheticRun(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'emrl-report-'));
  const rd = RunDir.create({ dir, name: 'synthetic' });
  rd.writeConfig(buildRunRecord({ name: 'synthetic', pipeline: {}, seed: 1, backend: { name: 'fake' } }));
  const stages = [countStageFactory.create('em', { steps: 6, lr: 0.2, checkpointEvery: 3, delayMs: 0 }), probeStageFactory.create('eval', { temperatures: [0, 1] }), countStageFactory.create('grpo', { steps: 8, lr: 0.1, checkpointEvery: 4, delayMs: 0 })] as unknown as Stage[];
  await lastValueFrom(runPipeline({ stages, context: { policy: fakePolicy('base'), task: fakeTask, seed: 1 }, diagnose: fakeDiagnose, runDir: rd }));
  return dir;
}

describe('writeRunReport', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await syntheticRun();
    await writeRunReport(dir);
  });

  it('the fake diagnostics match the documented record shape', async () => {
    expect(DiagnosticsRecordSchema.safeParse(await fakeDiagnose(fakePolicy('x'), 'start')).success).toBe(true);
  });

  it('writes summary.json with one row per boundary and the scope named', () => {
    const s = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as RunSummary;
    expect(s.boundaries.map((b) => b.boundary)).toEqual(['start', 'after:em', 'after:eval', 'after:grpo']);
    expect(s.temperatures).toEqual([0, 0.6, 1]);
    expect(s.scope).toContain('raw logits');
    expect(s.boundaries[0]!.skewness).toBeTypeOf('number');
    expect(s.stages.map((x) => x.id)).toEqual(['em', 'eval', 'grpo']);
  });

  it('writes summary.md with the boundary table', () => {
    const md = readFileSync(join(dir, 'summary.md'), 'utf8');
    expect(md).toContain('| boundary | policy | acc@T=0 | acc@T=0.6 | acc@T=1 | skewness | entropy | ECE | Brier |');
    expect(md).toMatch(/\| after em \| base>em@6 \|/);
  });

  it('report.html is self-contained and holds one SVG per plot', () => {
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    for (const id of ['plot-loss', 'plot-reward', 'plot-entropy', 'plot-accuracy', 'plot-accuracy-temperature', 'plot-logit-histogram']) {
      expect(html).toMatch(new RegExp(`<figure id="${id}" class="plot"><svg[^>]*>`));
    }
    expect((html.match(/<svg/g) ?? []).length).toBe(6);
    expect(html).not.toMatch(/<script|src="http|href="http/);
    // Legends carry the checkpoint labels.
    expect(html).toContain('after grpo');
  });

  it('renders in a real headless browser (Debian chromium) with its plots', () => {
    const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
    if (!chromium) {
      throw new Error('chromium is not installed: run `apt-get update && apt-get install -y chromium` (the report browser test needs a real browser)');
    }
    const profile = mkdtempSync(join(tmpdir(), 'emrl-chromium-'));
    const dom = execFileSync(
      chromium,
      ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', `--user-data-dir=${profile}`, '--dump-dom', `file://${join(dir, 'report.html')}`],
      { encoding: 'utf8', timeout: 120_000, stdio: ['ignore', 'pipe', 'ignore'] },
    );
    expect((dom.match(/<svg/g) ?? []).length).toBe(6);
    expect(dom).toMatch(/<figure id="plot-logit-histogram" class="plot"><svg[^>]*>[\s\S]*<path/);
    expect(dom).toContain('Stage boundaries');
  });
});
