// Test-only: straight, interrupted and resumed runs of a small fake pipeline (count stages with
// checkpoints), in this process, for run-directory reliability tests and the damaged-run corpus.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lastValueFrom, takeWhile, toArray } from 'rxjs';
import type { Stage } from '@emrl/rl-grpo';
import type { PipelineEvent } from '../pipeline-events';
import { RunDir } from '../run-dir';
import { buildRunRecord } from '../run-record';
import { releaseRunLock } from '../run-lock';
import { runPipeline } from '../scheduler';
import { countStageFactory, fakeDiagnose, fakePolicy, fakeTask, loadFakeCheckpoint, probeStageFactory } from './fake-stages';

const count = (id: string, steps: number, checkpointEvery: number): Stage =>
  countStageFactory.create(id, countStageFactory.schema.parse({ steps, checkpointEvery })) as unknown as Stage;

/** warm (3 steps) -> probe -> train (8 steps, a checkpoint every 2). */
export function fakeStages(): Stage[] {
  return [count('warm', 3, 3), probeStageFactory.create('probe', probeStageFactory.schema.parse({})) as unknown as Stage, count('train', 8, 2)];
}

const context = { policy: fakePolicy('base'), task: fakeTask, seed: 5 };

/** What startRun writes as config.json for the fake pipeline. */
function writeFakeRecord(runDir: RunDir): void {
  const pipeline = { name: 'fake', task: { type: 'fake' }, seed: 5, stages: [{ count: { steps: 3 } }, { probe: {} }, { count: { steps: 8 } }] };
  runDir.writeConfig({ ...buildRunRecord({ name: 'fake', pipeline, seed: 5, backend: { name: 'fake' } }), git: null });
}

/** A complete run in `dir`; the lock is released afterwards (as when its process exits). */
export async function straightFakeRun(dir: string): Promise<PipelineEvent[]> {
  const runDir = RunDir.create({ dir, name: 'fake' });
  writeFakeRecord(runDir);
  try {
    return await lastValueFrom(runPipeline({ stages: fakeStages(), context, diagnose: fakeDiagnose, runDir }).pipe(toArray()));
  } finally {
    releaseRunLock(runDir.dir);
  }
}

/** A run stopped (unsubscribed) right after `stage` wrote its checkpoint for `step`. */
export async function interruptedFakeRun(dir: string, stage = 'train', step = 4): Promise<void> {
  const runDir = RunDir.create({ dir, name: 'fake' });
  writeFakeRecord(runDir);
  try {
    await lastValueFrom(
      runPipeline({ stages: fakeStages(), context, diagnose: fakeDiagnose, runDir }).pipe(
        takeWhile((e) => !(e.type === 'checkpoint' && e.stage === stage && e.step === step), true),
        toArray(),
      ),
    );
  } finally {
    releaseRunLock(runDir.dir);
  }
}

/** Resume `dir` as `emrl resume` does (claim, read config.json and state, then the scheduler's resume path) to the end. */
export async function resumeFakeRun(dir: string): Promise<{ events: PipelineEvent[]; runDir: RunDir }> {
  const runDir = RunDir.claim(dir, 'resume');
  try {
    runDir.readConfig(); // as resumeRun does: config.json must be valid
    const state = runDir.readState();
    if (state?.finished) return { events: [], runDir };
    const events = await lastValueFrom(
      runPipeline({ stages: fakeStages(), context, diagnose: fakeDiagnose, runDir, resume: state !== undefined, loadCheckpoint: loadFakeCheckpoint }).pipe(toArray()),
    );
    return { events, runDir };
  } finally {
    releaseRunLock(runDir.dir);
  }
}

/**
 * Gives the fake train stage's checkpoint folders (steps 2 and 4) the files of an @emrl/rl-grpo
 * training checkpoint: trainer-state.json, config.json, model and optimizer files, latest.json.
 */
export function writeRealCheckpointLayout(dir: string): void {
  for (const step of [2, 4]) {
    const ck = join(dir, `checkpoints/train/step-${step}`);
    writeFileSync(join(ck, 'trainer-state.json'), JSON.stringify({ step, pluginStates: {}, extra: {} }));
    writeFileSync(join(ck, 'config.json'), '{}');
    writeFileSync(join(ck, 'model.safetensors'), '');
    writeFileSync(join(ck, 'optimizer.safetensors'), '');
  }
  writeFileSync(join(dir, 'checkpoints/train/latest.json'), JSON.stringify({ step: 4, path: 'step-4' }));
}
