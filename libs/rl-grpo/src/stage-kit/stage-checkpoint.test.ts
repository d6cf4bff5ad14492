import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ByteTokenizer } from '@emrl/lm';
import { makeTinyModel, setupTestBackend } from '@emrl/lm/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Policy } from '../policy';
import { findLatestCheckpoint, loadTrainingCheckpoint, resumeFromCheckpoint, saveTrainingCheckpoint } from './stage-checkpoint';

let dir: string;
beforeAll(async () => {
  await setupTestBackend();
  dir = await mkdtemp(join(tmpdir(), 'stage-ckpt-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const policyOf = (seed: number): Policy => ({ model: makeTinyModel({ family: 'gpt2', vocabSize: 258, seed }), tokenizer: new ByteTokenizer(), name: `m${seed}` });

describe('training checkpoints', () => {
  it('round-trips weights, optimizer tensors, plugin states and extra; latest.json follows the newest', async () => {
    const d = join(dir, 'rt');
    expect(await findLatestCheckpoint(d)).toBeNull();
    const src = policyOf(1);
    const opt = { 'w/m': tf.tensor2d([[1.5, -2], [3, 4e-8]]), 'w/step': tf.scalar(7, 'int32'), 'optimizer/iterations': tf.scalar(7, 'int32') };
    const before = tf.memory().numTensors;
    const saved = await saveTrainingCheckpoint(d, { step: 3, policy: src, optimizerState: opt, pluginStates: { p: { coef: 0.125 } }, extra: { note: 'x' } });
    expect(tf.memory().numTensors).toBe(before - 3); // ownership of the optimizer tensors was taken
    expect(saved.path).toBe(join(d, 'step-000003'));
    await saveTrainingCheckpoint(d, { step: 5, policy: src });
    expect(await findLatestCheckpoint(d)).toEqual({ step: 5, path: join(d, 'step-000005') });
    expect((await readdir(d)).sort()).toEqual(['latest.json', 'step-000003', 'step-000005']);

    const dst = policyOf(2);
    const { state, optimizerState } = await loadTrainingCheckpoint(saved.path, dst);
    expect(state).toEqual({ step: 3, optimizer: true, pluginStates: { p: { coef: 0.125 } }, extra: { note: 'x' } });
    expect(optimizerState['w/m']!.arraySync()).toEqual([[1.5, -2], [3, Math.fround(4e-8)]]);
    expect(optimizerState['w/step']!.dataSync()[0]).toBe(7);
    Object.values(optimizerState).forEach((t) => t.dispose());
    for (const [name, w] of src.model.weights) expect(dst.model.weights.get(name)!.dataSync(), name).toEqual(w.dataSync());
    src.model.dispose();
    dst.model.dispose();
  });

  it('names the file of a malformed latest.json', async () => {
    const d = join(dir, 'bad');
    const p = policyOf(0);
    await saveTrainingCheckpoint(d, { step: 1, policy: p });
    p.model.dispose();
    await writeFile(join(d, 'latest.json'), JSON.stringify({ step: 'one' }));
    await expect(findLatestCheckpoint(d)).rejects.toThrow(/latest\.json: malformed checkpoint pointer/);
  });

  it('resume trusts nothing: a missing optimizer file, a truncated trainer state, a step that disagrees with latest.json', async () => {
    const d = join(dir, 'distrust');
    const src = policyOf(3);
    const fresh = () => ({ 'w/m': tf.tensor1d([1, 2]) });
    await saveTrainingCheckpoint(d, { step: 2, policy: src, optimizerState: fresh() });
    const step = join(d, 'step-000002');
    const ctx = { checkpointDir: d, resumeStep: 2 };
    const resume = () => resumeFromCheckpoint(ctx, policyOf(4), () => undefined);
    expect((await resume())!.state.step).toBe(2);
    // latest.json pointing at a folder of another step
    await writeFile(join(d, 'latest.json'), JSON.stringify({ step: 3, path: 'step-000002' }));
    await expect(resume()).rejects.toThrow(/trainer-state\.json: step 2, but .*latest\.json says step 3/);
    await writeFile(join(d, 'latest.json'), JSON.stringify({ step: 2, path: 'step-000002' }));
    // a missing optimizer file that trainer-state.json says was written
    await unlink(join(step, 'optimizer.safetensors'));
    await expect(resume()).rejects.toThrow(/optimizer\.safetensors: missing, but .*trainer-state\.json says it was written/);
    // a truncated state file names the file
    await writeFile(join(step, 'trainer-state.json'), '{"step": 2, "plug');
    await expect(resume()).rejects.toThrow(/trainer-state\.json: unreadable trainer state/);
    await writeFile(join(d, 'latest.json'), '{"step":');
    await expect(resume()).rejects.toThrow(/latest\.json: unreadable checkpoint pointer/);
  });
});
