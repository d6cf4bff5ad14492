// End to end with the REAL stages on the tiny Qwen2 fixture: em (LoRA) -> grpo (LoRA, continuing the
// em adapter, k3 KL to it) -> eval. Only the adapter trains; checkpoints carry a PEFT adapter next to
// hard links of the base written once; resume inside the LoRA grpo stage equals the straight run;
// `emrl merge` writes a directory whose logits equal base + adapter; a pipeline can start from a
// PEFT adapter directory.
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPretrained, readSafetensors, type CausalLM, type RawTensor } from '@emrl/lm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText, parsePipelineConfig } from './config/load-config';
import { executeRun } from './execute';
import { RunDir } from './run-dir';
import { resumeRun, startRun } from './runner';
import { deterministicMetrics, emrlInProcess, spawnEmrl, TINY_QWEN2, waitForCheckpointState, interruptAfterCheckpoint } from './testing/e2e-helpers';
import { loadPolicyFromDir, wireRuntime } from './wiring';

// dropout > 0: the resume tests below also check that train-mode masks are redrawn identically.
const LORA = '{ r: 2, alpha: 4, dropout: 0.1, targetModules: [q_proj, v_proj, down_proj] }';
const pipeline = (model: string, stages: string) => `name: lora-e2e
model: ${model}
task: { type: modchain }
seed: 3
diagnostics: { enabled: false }
stages:
${stages}`;
const EVAL = '  - eval: { temperatures: [0, 1], samples: 2, split: test, limit: 4, maxNewTokens: 6 }\n';
const CONFIG = pipeline(
  `{ type: hf, path: ${TINY_QWEN2} }`,
  `  - em: { steps: 2, rollouts: 4, prompt: { split: train, count: 1 }, maxNewTokens: 6, lr: 0.05, lora: ${LORA} }
  - grpo: { steps: 4, checkpointEvery: 2, promptsPerStep: 2, groupSize: 4, maxCompletionLength: 6, lr: 0.05, beta: 0.1, lora: ${LORA}, plugins: [{ em-regularizer: { coef: { type: fixed, value: 0.5 } } }] }
${EVAL}`,
);

const root = mkdtempSync(join(tmpdir(), 'emrl-e2e-lora-'));
const runtime = wireRuntime();
const parse = (text: string) => parsePipelineConfig(parseConfigText(text, 'lora-e2e.yaml'), 'lora-e2e.yaml', runtime.registry);
const ref = join(root, 'straight');
const step = (stage: string, n: number) => join(ref, 'checkpoints', stage, `step-${String(n).padStart(6, '0')}`);
/** Live tensors after each grpo step of the straight run. */
const tensorsAfterStep: number[] = [];
const disposables: CausalLM[] = [];

/** Safetensors files read once in beforeAll (the tests themselves stay synchronous). */
const cache = new Map<string, Map<string, RawTensor>>();
function tensors(file: string): Map<string, RawTensor> {
  const got = cache.get(file);
  if (!got) throw new Error(`${file}: not preloaded`);
  return got;
}
async function preload(...files: string[]): Promise<void> {
  for (const f of files) cache.set(f, (await readSafetensors(f)).tensors);
}
function evalResult(dir: string): unknown {
  const rec = RunDir.open(dir).readState()!.stages.find((s) => s.kind === 'eval')!;
  const { seconds: _s, ...rest } = rec.result as { seconds: number };
  return rest;
}

beforeAll(async () => {
  const prepared = await startRun({ config: parse(CONFIG), runtime, dir: ref });
  const outcome = await executeRun(prepared.events, (e) => {
    if (e.type === 'metrics' && e.stage === 'grpo') tensorsAfterStep.push(tf.memory().numTensors);
  });
  expect(outcome).toEqual({ status: 'ok' });
  await preload(
    join(TINY_QWEN2, 'model.safetensors'),
    join(step('grpo', 4), 'model.safetensors'),
    join(step('em', 2), 'adapter', 'adapter_model.safetensors'),
    join(step('grpo', 4), 'adapter', 'adapter_model.safetensors'),
    join(step('grpo', 4), 'optimizer.safetensors'),
  );
}, 120_000);
afterAll(() => disposables.forEach((m) => m.dispose()));

describe('LoRA stages in a pipeline (tiny Qwen2)', () => {
  it('checkpoints a PEFT adapter next to hard links of the base, written once per stage', () => {
    for (const dir of [step('em', 2), step('grpo', 2), step('grpo', 4)]) {
      const cfg = JSON.parse(readFileSync(join(dir, 'adapter', 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
      expect(cfg).toMatchObject({ peft_type: 'LORA', r: 2, lora_alpha: 4 });
      expect([...(cfg['target_modules'] as string[])].sort()).toEqual(['down_proj', 'q_proj', 'v_proj']);
      expect(existsSync(join(dir, 'adapter', 'adapter_model.safetensors'))).toBe(true);
      expect(existsSync(join(dir, 'config.json'))).toBe(true);
    }
    for (const stage of ['em', 'grpo']) {
      const base = statSync(join(ref, 'checkpoints', stage, 'base-model', 'model.safetensors'));
      const steps = readdirSync(join(ref, 'checkpoints', stage)).filter((f) => f.startsWith('step-'));
      for (const s of steps) expect(statSync(join(ref, 'checkpoints', stage, s, 'model.safetensors')).ino, `${stage}/${s}`).toBe(base.ino);
    }
  });

  it('the base weights are bit-identical to the fixture; the adapter trained in both stages', () => {
    const fixture = tensors(join(TINY_QWEN2, 'model.safetensors'));
    const after = tensors(join(step('grpo', 4), 'model.safetensors'));
    expect([...after.keys()].sort()).toEqual([...fixture.keys()].sort());
    for (const [name, t] of fixture) expect(Array.from(after.get(name)!.data), name).toEqual(Array.from(t.data));
    const em = tensors(join(step('em', 2), 'adapter', 'adapter_model.safetensors'));
    const grpo = tensors(join(step('grpo', 4), 'adapter', 'adapter_model.safetensors'));
    expect(em.size).toBe(2 * 2 * 3); // 2 layers x 3 targets x (A, B)
    // PEFT init has B = 0: a non-zero B means the em stage trained it.
    const bMax = (m: Map<string, RawTensor>) => Math.max(...[...m].filter(([n]) => n.includes('lora_B')).flatMap(([, t]) => Array.from(t.data, Math.abs)));
    expect(bMax(em)).toBeGreaterThan(1e-4);
    const moved = Math.max(...[...em].map(([n, t]) => Math.max(...Array.from(t.data, (v, i) => Math.abs(v - grpo.get(n)!.data[i]!)))));
    expect(moved).toBeGreaterThan(1e-4);
  });

  it('optimizer state exists only for the adapter tensors, under their PEFT names', () => {
    const opt = tensors(join(step('grpo', 4), 'optimizer.safetensors'));
    const adapterNames = [...tensors(join(step('grpo', 4), 'adapter', 'adapter_model.safetensors')).keys()].sort();
    expect(adapterNames.every((n) => /^base_model\.model\.model\.layers\.\d\.(self_attn\.[qv]_proj|mlp\.down_proj)\.lora_[AB]\.weight$/.test(n))).toBe(true);
    const slotted = [...new Set([...opt.keys()].filter((k) => k !== 'optimizer/iterations').map((k) => k.replace(/\/(m|v|step)$/, '')))].sort();
    expect(slotted).toEqual(adapterNames);
  });

  it('keeps the live tensor count flat over the LoRA grpo steps', () => {
    expect(tensorsAfterStep).toHaveLength(4);
    // Step 1 creates the optimizer slots; from then on nothing may accumulate.
    expect(new Set(tensorsAfterStep.slice(1)).size).toBe(1);
  });

  it('unsubscribing inside the LoRA grpo stage after its step-2 checkpoint, then resuming, equals the straight run', async () => {
    const dir = join(root, 'unsubscribed');
    const first = await startRun({ config: parse(CONFIG), runtime, dir });
    await interruptAfterCheckpoint(first.events, 'grpo', 2);
    expect(RunDir.open(dir).readState()!.stages.map((s) => s.status)).toEqual(['completed', 'running', 'pending']);
    const resumed = await resumeRun({ dir, runtime });
    const seen: string[] = [];
    expect(await executeRun(resumed.events, (e) => seen.push(e.type === 'stage-resumed' ? `resumed:${e.stage}@${e.fromStep}` : e.type))).toEqual({ status: 'ok' });
    expect(seen).toContain('resumed:grpo@2');
    expect(deterministicMetrics(dir)).toEqual(deterministicMetrics(ref));
    expect(evalResult(dir)).toEqual(evalResult(ref));
    const a = readFileSync(join(dir, 'checkpoints', 'grpo', 'step-000004', 'adapter', 'adapter_model.safetensors'));
    expect(a.equals(readFileSync(join(step('grpo', 4), 'adapter', 'adapter_model.safetensors')))).toBe(true);
  }, 120_000);

  it('kill -9 of `emrl run` inside the LoRA grpo stage, then `emrl resume`, equals the straight run', async () => {
    const file = join(root, 'lora-e2e.yaml');
    writeFileSync(file, CONFIG);
    const dir = join(root, 'killed');
    const first = await spawnEmrl(['run', file, '--out', dir, '--no-report'], {
      via: 'main',
      onSpawn: (kill) => void waitForCheckpointState(dir, 'grpo', 2).then(() => kill('SIGKILL')),
    });
    expect(first.signal).toBe('SIGKILL');
    expect(RunDir.open(dir).readState()!.stages.map((s) => s.status)).toEqual(['completed', 'running', 'pending']);
    const resumed = await spawnEmrl(['resume', dir, '--no-report'], { via: 'main' });
    expect(resumed.stderr).not.toMatch(/error|failed/i);
    expect(resumed.code).toBe(0);
    expect(deterministicMetrics(dir)).toEqual(deterministicMetrics(ref));
    expect(evalResult(dir)).toEqual(evalResult(ref));
  }, 120_000);

  it('emrl merge writes an HF directory whose logits equal base + adapter within 1e-5', async () => {
    const out = join(root, 'merged');
    const r = await emrlInProcess(['merge', join(ref, 'checkpoints', 'grpo'), '--out', out]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain(`merged the LoRA adapter (`);
    expect(existsSync(join(out, 'adapter'))).toBe(false);
    const merged = (await loadPretrained(out)).model;
    const unmerged = (await loadPolicyFromDir(step('grpo', 4), 'unmerged')).model;
    disposables.push(merged, unmerged);
    expect(merged.getLora()).toBeNull();
    expect(unmerged.getLora()).not.toBeNull();
    const ids = tf.tensor2d([[3, 40, 41, 42, 60, 61, 62, 9], [70, 71, 72, 73, 74, 75, 76, 77]], [2, 8], 'int32');
    const [a, b, base] = [merged.forward(ids), unmerged.forward(ids), unmerged.forward(ids, { disableLora: true })];
    const maxDiff = (x: tf.Tensor, y: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(x, y))).dataSync()[0]!);
    expect(maxDiff(a, b)).toBeLessThan(1e-5);
    expect(maxDiff(a, base)).toBeGreaterThan(1e-4); // the merge is not a no-op
    tf.dispose([ids, a, b, base]);
    const noAdapter = await emrlInProcess(['merge', out, '--out', join(root, 'merged-again')]);
    expect(noAdapter.code).toBe(2);
    expect(noAdapter.err).toContain('no LoRA adapter here');
    expect(noAdapter.err).toContain('pass --adapter <PEFT adapter directory>');
  }, 60_000);

  it('emrl merge --dtype: f32 by default for a bf16 base (merged weights are not bf16-exact), source / bf16 / f16 round on request', async () => {
    const f32 = join(root, 'merged');
    const dtypes = (dir: string) => {
      const raw = JSON.parse(readFileSync(join(dir, 'model.safetensors')).subarray(8, 8 + Number(readFileSync(join(dir, 'model.safetensors')).readBigUInt64LE(0))).toString('utf8')) as Record<string, { dtype?: string }>;
      return new Set(Object.entries(raw).filter(([k]) => k !== '__metadata__').map(([, v]) => v.dtype));
    };
    expect(dtypes(f32)).toEqual(new Set(['F32']));
    expect(JSON.parse(readFileSync(join(f32, 'config.json'), 'utf8')).torch_dtype).toBe('float32');
    const full = (await readSafetensors(join(f32, 'model.safetensors'))).tensors;
    /** bf16 of a float32 by hand: round to nearest even on the upper 16 bits. */
    const bf16 = (x: number) => {
      const u = new Uint32Array(Float32Array.of(x).buffer)[0]!;
      const r = (u + 0x7fff + ((u >>> 16) & 1)) & 0xffff0000;
      return new Float32Array(Uint32Array.of(r >>> 0).buffer)[0]!;
    };
    for (const [flag, dtype, torch] of [['source', 'BF16', 'bfloat16'], ['bf16', 'BF16', 'bfloat16'], ['f16', 'F16', 'float16']] as const) {
      const out = join(root, `merged-${flag}`);
      const r = await emrlInProcess(['merge', join(ref, 'checkpoints', 'grpo'), '--out', out, '--dtype', flag]);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toContain(`(${dtype})`);
      expect(dtypes(out)).toEqual(new Set([dtype]));
      expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).torch_dtype).toBe(torch);
      if (dtype === 'BF16') {
        const got = (await readSafetensors(join(out, 'model.safetensors'))).tensors;
        for (const [name, t] of full) expect(Array.from(got.get(name)!.data), name).toEqual(Array.from(t.data, bf16));
      }
    }
    const bad = await emrlInProcess(['merge', join(ref, 'checkpoints', 'grpo'), '--out', join(root, 'merged-bad'), '--dtype', 'fp8']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--dtype');
    expect(bad.err).toContain('unknown dtype "fp8"; use one of f32, bf16, f16, source');
    expect(existsSync(join(root, 'merged-bad'))).toBe(false);
  }, 60_000);

  it('a pipeline starting from the base + the PEFT adapter directory has the trained policy', async () => {
    const adapter = join(step('grpo', 4), 'adapter');
    const loaded = (await runtime.loadPolicy({ type: 'hf', path: TINY_QWEN2, adapter }, 0)).model;
    const trained = (await loadPolicyFromDir(step('grpo', 4), 'trained')).model;
    disposables.push(loaded, trained);
    const ids = tf.tensor2d([[3, 40, 41, 42, 60, 61, 62, 9]], [1, 8], 'int32');
    const [a, b, base] = [loaded.forward(ids), trained.forward(ids), loaded.forward(ids, { disableLora: true })];
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    expect(Array.from(a.dataSync())).not.toEqual(Array.from(base.dataSync()));
    tf.dispose([ids, a, b, base]);
    const dir = join(root, 'from-adapter');
    const config = parse(pipeline(`{ type: hf, path: ${TINY_QWEN2}, adapter: ${adapter} }`, EVAL));
    const prepared = await startRun({ config, runtime, dir });
    expect(await executeRun(prepared.events)).toEqual({ status: 'ok' });
    expect(evalResult(dir)).toEqual(evalResult(ref));
  }, 60_000);
});
