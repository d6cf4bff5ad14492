// Kill matrix over the REAL trainer's checkpoint writes (issue 12): a small em -> grpo pipeline on
// the embedded model stops the world at every durable step of every stage checkpoint (before the
// step folder's rename, after it, after latest.json) and copies the run directory: what a SIGKILL
// there leaves on disk. Each copy is resumed as `emrl resume` does and must equal the straight run,
// metrics row for metrics row and event for event. (The run directory's own writes: kill-matrix.test.ts.)
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { setCheckpointFailpointHook } from '@emrl/rl-grpo';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfigText, parsePipelineConfig } from './config/load-config';
import { executeRun } from './execute';
import { resumeRun, startRun } from './runner';
import { deterministicEvents, deterministicMetrics, TINY_DIAGNOSTICS } from './testing/e2e-helpers';
import { wireRuntime } from './wiring';

const CONFIG = `name: kill-ckpt
model: { type: embedded }
task: { type: modchain }
seed: 9
${TINY_DIAGNOSTICS}
stages:
  - em: { steps: 2, checkpointEvery: 1, rollouts: 2, prompt: { split: train, count: 1 } }
  - grpo: { steps: 2, checkpointEvery: 1, promptsPerStep: 2, groupSize: 2 }
`;

const root = mkdtempSync(join(tmpdir(), 'emrl-killmatrix-ckpt-'));
const runtime = wireRuntime();
const config = parsePipelineConfig(parseConfigText(CONFIG, 'kill-ckpt.yaml'), 'kill-ckpt.yaml', runtime.registry);
const ref = join(root, 'straight');
const snapshots: { name: string; dir: string }[] = [];

describe('kill matrix over the training checkpoints (real stages, embedded model)', () => {
  afterAll(() => setCheckpointFailpointHook(null));

  it('a straight run passes a kill point at every durable step of every checkpoint', async () => {
    setCheckpointFailpointHook((point, path) => {
      const dir = join(root, `kill-${String(snapshots.length).padStart(2, '0')}`);
      cpSync(ref, dir, { recursive: true });
      snapshots.push({ name: `${point} ${basename(join(path, '..'))}/${basename(path)}`, dir });
    });
    try {
      expect(await executeRun((await startRun({ config, runtime, dir: ref })).events)).toEqual({ status: 'ok' });
    } finally {
      setCheckpointFailpointHook(null);
    }
    // 2 em + 2 grpo checkpoints x 3 points
    expect(snapshots.map((s) => s.name.split(' ')[0])).toEqual(Array.from({ length: 4 }, () => ['before-step-rename', 'after-step-rename', 'after-latest']).flat());
  });

  it('every killed copy resumes to exactly the straight run', async () => {
    const refMetrics = deterministicMetrics(ref);
    const refEvents = deterministicEvents(ref);
    for (const s of snapshots) {
      const resumed = await resumeRun({ dir: s.dir, runtime });
      expect(await executeRun(resumed.events), s.name).toEqual({ status: 'ok' });
      expect(deterministicMetrics(s.dir), s.name).toEqual(refMetrics);
      expect(deterministicEvents(s.dir), s.name).toEqual(refEvents);
    }
    console.log(`checkpoint kill matrix: ${snapshots.length} kill points, all resumed equal to the straight run`);
  });
});
