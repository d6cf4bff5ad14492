// End to end through the CLI in a child process with fake stages: SIGINT and kill -9 mid-stage,
// then `resume` to completion must give the same events and metrics as an uninterrupted run.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RunDir } from './run-dir';
import { metricsCsv, normalizedEvents } from './testing/compare';

const CLI = fileURLToPath(new URL('./testing/fake-cli.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

const CONFIG = `name: fake
task: { type: fake }
seed: 3
stages:
  - count: { steps: 4, delayMs: 20 }
  - probe: {}
  - count: { steps: 10, delayMs: 60, checkpointEvery: 2 }
`;

function cli(args: string[], onSpawn?: (kill: (sig: NodeJS.Signals) => void) => void): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', TSX, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.resume();
    onSpawn?.((sig) => child.kill(sig));
    child.on('exit', (code, signal) => resolve({ code, signal, stderr }));
  });
}

/** Resolves once events.jsonl shows `stage` at step >= `step` (polling the file like a user would). */
async function waitForStep(dir: string, stage: string, step: number): Promise<void> {
  for (;;) {
    const file = join(dir, 'events.jsonl');
    if (existsSync(file)) {
      const hit = readFileSync(file, 'utf8')
        .split('\n')
        .some((l) => l.includes('"type":"progress"') && l.includes(`"stage":"${stage}"`) && Number(/"step":(\d+)/.exec(l)?.[1]) >= step);
      if (hit) return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('emrl run / resume in a child process (fake stages)', () => {
  const root = mkdtempSync(join(tmpdir(), 'emrl-proc-'));
  const cfg = join(root, 'fake.yaml');
  writeFileSync(cfg, CONFIG);

  it('interrupt (SIGINT) and kill -9 then resume equal an uninterrupted run', async () => {
    const ref = join(root, 'ref');
    const straight = await cli(['run', cfg, '--out', ref, '--no-report']);
    expect(straight.stderr).not.toMatch(/error/i);
    expect(straight.code).toBe(0);

    for (const sig of ['SIGINT', 'SIGKILL'] as const) {
      const dir = join(root, sig);
      const first = await cli(['run', cfg, '--out', dir, '--no-report'], (kill) => void waitForStep(dir, 'count-2', 5).then(() => kill(sig)));
      if (sig === 'SIGINT') {
        expect(first.code).toBe(130);
        expect(first.stderr).toContain('interrupted by SIGINT');
        expect(RunDir.open(dir).readState()!.interrupted).toBe(true);
      } else {
        expect(first.signal).toBe('SIGKILL');
      }
      const state = RunDir.open(dir).readState()!;
      expect(state.finished).toBe(false);
      expect(state.stages.map((s) => s.status)).toEqual(['completed', 'completed', 'running']);
      const resumed = await cli(['resume', dir, '--no-report']);
      expect(resumed.code).toBe(0);
      expect(resumed.stderr).toMatch(/\[count-2\] resumed after step \d+/);
      expect(normalizedEvents(dir)).toEqual(normalizedEvents(ref));
      expect(metricsCsv(dir)).toBe(metricsCsv(ref));
      expect(RunDir.open(dir).readState()!.finished).toBe(true);
    }
  });
});
