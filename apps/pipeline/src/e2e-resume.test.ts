// End to end with the REAL stages on the embedded model: interrupt a run inside GRPO after its
// step-2 checkpoint (in process, and kill -9 of a child `emrl run`), resume, and compare with an
// uninterrupted run of the same seed. The backend is deterministic, so everything but wall-clock
// measurements must be equal exactly.
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText, parsePipelineConfig } from './config/load-config';
import { executeRun } from './execute';
import { RunDir } from './run-dir';
import { resumeRun, startRun } from './runner';
import { deterministicEvents, deterministicMetrics, spawnEmrl, TINY_DIAGNOSTICS, waitForCheckpointState, waitForEvent, interruptAfterCheckpoint } from './testing/e2e-helpers';
import { wireRuntime } from './wiring';

const CONFIG = `name: resume-e2e
model: { type: embedded }
task: { type: modchain }
seed: 5
${TINY_DIAGNOSTICS}
stages:
  - em: { steps: 4, checkpointEvery: 2, rollouts: 4, prompt: { split: train, count: 1 } }
  - grpo: { steps: 4, checkpointEvery: 2, promptsPerStep: 2, groupSize: 4 }
  - eval: { temperatures: [0, 1], samples: 2, split: test, limit: 6 }
`;

const root = mkdtempSync(join(tmpdir(), 'emrl-e2e-resume-'));
const runtime = wireRuntime();
const config = parsePipelineConfig(parseConfigText(CONFIG, 'resume-e2e.yaml'), 'resume-e2e.yaml', runtime.registry);

/** The eval stage's result without its wall time. */
function evalResult(dir: string): unknown {
  const rec = RunDir.open(dir).readState()!.stages.find((s) => s.id === 'eval')!;
  const { seconds: _s, ...rest } = rec.result as { seconds: number };
  return rest;
}

describe('resume with real stages (embedded model)', () => {
  const ref = join(root, 'straight');

  beforeAll(async () => {
    const prepared = await startRun({ config, runtime, dir: ref });
    expect(await executeRun(prepared.events)).toEqual({ status: 'ok' });
  });

  it('the straight run checkpoints em and grpo every 2 steps', () => {
    expect(readdirSync(join(ref, 'checkpoints', 'em')).filter((f) => f.startsWith('step-')).sort()).toEqual(['step-000002', 'step-000004']);
    expect(readdirSync(join(ref, 'checkpoints', 'grpo')).filter((f) => f.startsWith('step-')).sort()).toEqual(['step-000002', 'step-000004']);
    const rows = deterministicMetrics(ref);
    expect(rows.map((r) => `${r.stage}:${r.step}`)).toEqual(['em:1', 'em:2', 'em:3', 'em:4', 'grpo:1', 'grpo:2', 'grpo:3', 'grpo:4', 'eval:2']);
  });

  it('unsubscribing after the GRPO step-2 checkpoint, then resuming, equals the straight run', async () => {
    const dir = join(root, 'unsubscribed');
    const first = await startRun({ config, runtime, dir });
    await interruptAfterCheckpoint(first.events, 'grpo', 2);
    const state = RunDir.open(dir).readState()!;
    expect(state.interrupted).toBe(true);
    expect(state.stages.map((s) => s.status)).toEqual(['completed', 'running', 'pending']);
    expect(state.stages[1]!.lastCheckpoint?.step).toBe(2);

    const resumed = await resumeRun({ dir, runtime });
    const seen: string[] = [];
    expect(await executeRun(resumed.events, (e) => seen.push(e.type === 'stage-resumed' ? `resumed:${e.stage}@${e.fromStep}` : e.type))).toEqual({ status: 'ok' });
    expect(seen).toContain('resumed:grpo@2');
    expect(seen).toContain('stage-skipped');
    expect(deterministicMetrics(dir)).toEqual(deterministicMetrics(ref));
    expect(evalResult(dir)).toEqual(evalResult(ref));
    expect(deterministicEvents(dir)).toEqual(deterministicEvents(ref));
  });

  it('Ctrl-C (SIGINT to the process group of bin/emrl.mjs) inside GRPO exits 130; `emrl resume` equals the straight run', async () => {
    const file = join(root, 'resume-e2e.yaml');
    writeFileSync(file, CONFIG);
    const dir = join(root, 'sigint');
    const first = await spawnEmrl(['run', file, '--out', dir, '--no-report'], {
      onSpawn: (_kill, killGroup) => void waitForEvent(dir, ['"type":"checkpoint"', '"stage":"grpo"', '"step":2']).then(() => killGroup('SIGINT')),
    });
    expect(first.code).toBe(130);
    expect(first.stderr).toContain(`interrupted by SIGINT; state saved. Continue with: emrl resume ${dir}`);
    // ... and says what the resume will redo (step 3 may or may not have finished when the signal came).
    expect(first.stderr).toMatch(/grpo resumes after its step-2 checkpoint; (nothing will be redone|step 3 will be redone)/);
    const state = RunDir.open(dir).readState()!;
    expect(state.interrupted).toBe(true);
    expect(state.stages.map((s) => s.status)).toEqual(['completed', 'running', 'pending']);
    const resumed = await spawnEmrl(['resume', dir, '--no-report']);
    expect(resumed.code).toBe(0);
    expect(deterministicMetrics(dir)).toEqual(deterministicMetrics(ref));
    expect(evalResult(dir)).toEqual(evalResult(ref));
  });

  it('kill -9 of the bin/emrl.mjs wrapper stops its CLI process cleanly (no orphan); `emrl resume` equals the straight run', async () => {
    const file = join(root, 'resume-e2e.yaml');
    const dir = join(root, 'wrapper-killed');
    const first = await spawnEmrl(['run', file, '--out', dir, '--no-report'], {
      onSpawn: (kill) => void waitForEvent(dir, ['"type":"checkpoint"', '"stage":"grpo"', '"step":2']).then(() => kill('SIGKILL')),
    });
    expect(first.signal).toBe('SIGKILL');
    // The CLI process noticed its parent die and stopped like Ctrl-C (resolved once it closed the pipes).
    expect(first.stderr).toContain(`interrupted by SIGTERM; state saved. Continue with: emrl resume ${dir}`);
    expect(RunDir.open(dir).readState()!.interrupted).toBe(true);
    const resumed = await spawnEmrl(['resume', dir, '--no-report']);
    expect(resumed.code).toBe(0);
    expect(deterministicMetrics(dir)).toEqual(deterministicMetrics(ref));
  });

  it('kill -9 of a child `emrl run` inside GRPO, then `emrl resume`, equals the straight run', async () => {
    const file = join(root, 'resume-e2e.yaml');
    const dir = join(root, 'killed');
    const first = await spawnEmrl(['run', file, '--out', dir, '--no-report'], {
      via: 'main',
      // After grpo's step-2 checkpoint is recorded in stage-state.json: step 3 is then in flight (or done) when the process dies.
      onSpawn: (kill) => void waitForCheckpointState(dir, 'grpo', 2).then(() => kill('SIGKILL')),
    });
    expect(first.signal).toBe('SIGKILL');
    const state = RunDir.open(dir).readState()!;
    expect(state.finished).toBe(false);
    expect(state.stages.map((s) => s.status)).toEqual(['completed', 'running', 'pending']);

    const resumed = await spawnEmrl(['resume', dir, '--every', '1'], { via: 'main' });
    expect(resumed.stderr).not.toMatch(/error|failed/i);
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toMatch(/\[grpo\] resumed after step 2/);
    expect(resumed.stdout).toContain(`report: ${join(dir, 'report.html')}`);
    expect(RunDir.open(dir).readState()!.finished).toBe(true);
    expect(deterministicMetrics(dir)).toEqual(deterministicMetrics(ref));
    expect(evalResult(dir)).toEqual(evalResult(ref));
    expect(deterministicEvents(dir)).toEqual(deterministicEvents(ref));
  });
});
