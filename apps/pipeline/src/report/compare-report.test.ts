import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT, runCli } from '../cli';
import { createFakeRuntime } from '../testing/fake-runtime';
import { figurePoints, inlineSvgs, xmlProblems } from '../testing/xml-check';
import { runLabels } from './compare-report';

const runtime = createFakeRuntime();
const emrl = async (args: string[]): Promise<{ code: number; out: string }> => {
  const out: string[] = [];
  const sink = { write: (s: string) => (out.push(s), true) } as unknown as NodeJS.WritableStream;
  const code = await runCli(['node', 'emrl', ...args], { runtime: () => runtime, stdout: sink, stderr: { write: () => true } as unknown as NodeJS.WritableStream });
  return { code, out: out.join('') };
};

describe('emrl compare', () => {
  it('labels runs by folder, numbering duplicates', () => {
    expect(runLabels(['/a/run-1', '/b/run-1/', '/c/x'])).toEqual(['run-1 #1', 'run-1 #2', 'x']);
  });

  it('overlays two runs: probe accuracies of both, loss curves of both, well-formed SVG', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'emrl-compare-'));
    const file = join(dir, 'p.yaml');
    writeFileSync(file, 'task: { type: fake }\nstages:\n  - count: { steps: 3 }\n');
    expect((await emrl(['run', file, '--out', join(dir, 'a'), '--no-report'])).code).toBe(EXIT.ok);
    expect((await emrl(['run', file, '--out', join(dir, 'b'), '--no-report', '--set', 'seed=5'])).code).toBe(EXIT.ok);
    const r = await emrl(['compare', join(dir, 'a'), join(dir, 'b'), '--out', join(dir, 'cmp.html')]);
    expect(r.code).toBe(EXIT.ok);
    const html = readFileSync(join(dir, 'cmp.html'), 'utf8');
    for (const svg of inlineSvgs(html)) expect(xmlProblems(svg)).toEqual([]);
    const probe = figurePoints(html, 'plot-compare-probe');
    expect([...new Set(probe.map((p) => p['series']))].sort()).toEqual(['a: probe after count', 'b: probe after count']);
    expect(new Set(figurePoints(html, 'plot-compare-loss').map((p) => p['series']))).toEqual(new Set(['a: loss', 'b: loss']));
    expect(figurePoints(html, 'plot-compare-loss')).toHaveLength(6);
    expect((await emrl(['compare', join(dir, 'a')])).code).toBe(EXIT.badInput);
    expect((await emrl(['compare', join(dir, 'a'), dir])).code).toBe(EXIT.badInput);
  });
});
