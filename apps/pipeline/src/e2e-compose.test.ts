// End to end with the REAL stages on the embedded model: a compression layer trained first stays
// frozen through a later GRPO stage (only the model's weights train), travels with every GRPO
// checkpoint as adapters/<name>.json, and a run interrupted inside compress or inside GRPO resumes
// to exactly the straight run.
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensorsDir } from '@emrl/lm';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText, parsePipelineConfig } from './config/load-config';
import { executeRun } from './execute';
import { RunDir } from './run-dir';
import { resumeRun, startRun } from './runner';
import { deterministicEvents, deterministicMetrics, TINY_DIAGNOSTICS, interruptAfterCheckpoint } from './testing/e2e-helpers';
import { wireRuntime } from './wiring';

const CONFIG = `name: compose-e2e
model: { type: embedded }
task: { type: modchain }
seed: 7
${TINY_DIAGNOSTICS}
stages:
  - compress: { steps: 4, checkpointEvery: 2, prompts: 4, rollouts: 2, lr: 0.1 }
  - grpo: { steps: 4, checkpointEvery: 2, promptsPerStep: 2, groupSize: 4 }
  - eval: { temperatures: [0, 1], samples: 2, split: test, limit: 6 }
`;

const root = mkdtempSync(join(tmpdir(), 'emrl-e2e-compose-'));
const runtime = wireRuntime();
const config = parsePipelineConfig(parseConfigText(CONFIG, 'compose-e2e.yaml'), 'compose-e2e.yaml', runtime.registry);

const adapterFile = (stepDir: string) => join(stepDir, 'adapters', 'em-compress.json');
const adapterTensors = (stepDir: string) => (JSON.parse(readFileSync(adapterFile(stepDir), 'utf8')) as { tensors: unknown }).tensors;

async function weightsOf(stepDir: string): Promise<Map<string, number[]>> {
  const { tensors } = await readSafetensorsDir(stepDir);
  return new Map([...tensors].map(([k, t]) => [k, Array.from(t.data)]));
}

/** Runs until `stage` writes its step-`step` checkpoint, stops like Ctrl-C, then resumes to the end. */
async function interruptAndResume(dir: string, stage: string, step: number): Promise<string[]> {
  const first = await startRun({ config, runtime, dir });
  await interruptAfterCheckpoint(first.events, stage, step);
  expect(RunDir.open(dir).readState()!.interrupted).toBe(true);
  const resumed = await resumeRun({ dir, runtime });
  const seen: string[] = [];
  expect(await executeRun(resumed.events, (e) => seen.push(e.type === 'stage-resumed' ? `resumed:${e.stage}@${e.fromStep}` : e.type))).toEqual({ status: 'ok' });
  return seen;
}

describe('compress -> grpo -> eval (real stages, embedded model)', () => {
  const ref = join(root, 'straight');

  beforeAll(async () => {
    const prepared = await startRun({ config, runtime, dir: ref });
    expect(await executeRun(prepared.events)).toEqual({ status: 'ok' });
  });

  it('GRPO trains the model but leaves the compression layer exactly as compress left it; every GRPO checkpoint carries it', async () => {
    const compressDir = join(ref, 'checkpoints', 'compress', 'step-000004');
    const grpoDirs = readdirSync(join(ref, 'checkpoints', 'grpo')).filter((f) => f.startsWith('step-')).sort();
    expect(grpoDirs).toEqual(['step-000002', 'step-000004']);
    const trained = adapterTensors(compressDir);
    // The layer did train (log-temperature moved away from 0) ...
    const logT = (trained as { logTemperature: { values: number[] } }).logTemperature.values[0]!;
    expect(Math.abs(logT)).toBeGreaterThan(1e-3);
    for (const d of grpoDirs) {
      expect(existsSync(adapterFile(join(ref, 'checkpoints', 'grpo', d)))).toBe(true);
      // ... and GRPO did not touch it (no optimizer slot, no update): identical values.
      expect(adapterTensors(join(ref, 'checkpoints', 'grpo', d))).toEqual(trained);
    }
    // GRPO's optimizer state names only model weights.
    const opt = await readSafetensorsDir(join(ref, 'checkpoints', 'grpo', 'step-000004'));
    expect([...opt.tensors.keys()].some((k) => k.includes('em-compress'))).toBe(false);
    // The model's weights did change under GRPO.
    const before = await weightsOf(compressDir);
    const after = await weightsOf(join(ref, 'checkpoints', 'grpo', 'step-000004'));
    expect([...after].some(([k, v]) => v.some((x, i) => x !== before.get(k)![i]))).toBe(true);
  });

  it('interrupted inside compress (after its step-2 checkpoint), resumed: equals the straight run', async () => {
    const dir = join(root, 'in-compress');
    const seen = await interruptAndResume(dir, 'compress', 2);
    expect(seen).toContain('resumed:compress@2');
    expect(deterministicMetrics(dir)).toEqual(deterministicMetrics(ref));
    expect(deterministicEvents(dir)).toEqual(deterministicEvents(ref));
    expect(adapterTensors(join(dir, 'checkpoints', 'grpo', 'step-000004'))).toEqual(adapterTensors(join(ref, 'checkpoints', 'grpo', 'step-000004')));
  });

  it('interrupted inside GRPO (after its step-2 checkpoint), resumed: equals the straight run, adapter included', async () => {
    const dir = join(root, 'in-grpo');
    const seen = await interruptAndResume(dir, 'grpo', 2);
    expect(seen).toContain('resumed:grpo@2');
    expect(deterministicMetrics(dir)).toEqual(deterministicMetrics(ref));
    expect(deterministicEvents(dir)).toEqual(deterministicEvents(ref));
    expect(adapterTensors(join(dir, 'checkpoints', 'grpo', 'step-000004'))).toEqual(adapterTensors(join(ref, 'checkpoints', 'grpo', 'step-000004')));
  });
});
