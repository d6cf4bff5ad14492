// A stage whose update makes the weights non-finite (em-2 at lr 1e39, float32) stops at its first
// step before anything is written: the run fails naming the stage and step, the earlier stage's
// checkpoints stay intact, and `resume --set` with a sane lr finishes exactly like a straight run.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText, parsePipelineConfig } from './config/load-config';
import { executeRun } from './execute';
import { RunDir } from './run-dir';
import { resumeRun, startRun } from './runner';
import { deterministicMetrics, TINY_DIAGNOSTICS } from './testing/e2e-helpers';
import { wireRuntime } from './wiring';

const pipeline = (lr2: string) => `name: nonfinite-e2e
model: { type: embedded }
task: { type: modchain }
seed: 3
${TINY_DIAGNOSTICS}
stages:
  - em: { steps: 2, checkpointEvery: 1, rollouts: 2, prompt: { split: train, count: 1 } }
  - em: { steps: 2, checkpointEvery: 1, rollouts: 2, lr: ${lr2}, prompt: { split: train, count: 1 } }
`;

const root = mkdtempSync(join(tmpdir(), 'emrl-e2e-nonfinite-'));
const runtime = wireRuntime();
const configOf = (lr2: string) => parsePipelineConfig(parseConfigText(pipeline(lr2), 'p.yaml'), 'p.yaml', runtime.registry);

describe('a non-finite update stops the stage; resume with a lower lr', () => {
  const ref = join(root, 'straight');
  beforeAll(async () => {
    expect(await executeRun((await startRun({ config: configOf('1.0e-4'), runtime, dir: ref })).events)).toEqual({ status: 'ok' });
  });

  it('fails at em-2 step 1 with nothing written for it; resume --set em.lr=1e-4 equals the straight run', async () => {
    const dir = join(root, 'blown');
    const outcome = await executeRun((await startRun({ config: configOf('1.0e39'), runtime, dir })).events);
    expect(outcome.status).toBe('failed');
    const message = outcome.status === 'failed' ? String((outcome.error as Error).message) : '';
    expect(message).toMatch(/stage "em-2": the updated model weights \(\d+ non-finite entries\) is NaN at step 1; the step was not saved/);
    // The first stage's checkpoints are intact; the failed stage wrote none.
    const latest = JSON.parse(readFileSync(join(dir, 'checkpoints', 'em', 'latest.json'), 'utf8')) as { step: number };
    expect(latest.step).toBe(2);
    expect(existsSync(join(dir, 'checkpoints', 'em-2', 'latest.json'))).toBe(false);
    expect(RunDir.open(dir).readState()!.stages.map((s) => s.status)).toEqual(['completed', 'running']);

    const resumed = await resumeRun({ dir, runtime, overrides: ['em.lr=1.0e-4'] });
    expect(await executeRun(resumed.events)).toEqual({ status: 'ok' });
    expect(deterministicMetrics(dir)).toEqual(deterministicMetrics(ref));
    // config.json records what the run continued with.
    const record = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { pipeline: { stages: Record<string, { lr: number }>[] } };
    expect(record.pipeline.stages[1]!['em']!.lr).toBe(1e-4);
  });

  it.each([
    ['grpo', 'grpo: { steps: 2, checkpointEvery: 1, promptsPerStep: 2, groupSize: 2, lr: 1.0e39 }', /stage "grpo": the updated model weights \(\d+ non-finite entries\) is NaN at step 1/],
    ['compress', 'compress: { steps: 2, checkpointEvery: 1, prompts: 2, rollouts: 2, lr: 1.0e39 }', /stage "compress": the updated adapter "em-compress" \(\d+ non-finite entries\) is NaN at step 1/],
  ])('a non-finite %s update fails the stage before its first checkpoint', async (kind, stage, pattern) => {
    const dir = join(root, `blown-${kind}`);
    const text = `name: nonfinite-${kind}\nmodel: { type: embedded }\ntask: { type: modchain }\nseed: 3\n${TINY_DIAGNOSTICS}\nstages:\n  - ${stage}\n`;
    const config = parsePipelineConfig(parseConfigText(text, 'p.yaml'), 'p.yaml', runtime.registry);
    const outcome = await executeRun((await startRun({ config, runtime, dir })).events);
    expect(outcome.status).toBe('failed');
    expect(outcome.status === 'failed' ? String((outcome.error as Error).message) : '').toMatch(pattern);
    expect(existsSync(join(dir, 'checkpoints', kind, 'latest.json'))).toBe(false);
  });
});
