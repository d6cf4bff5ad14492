import * as tf from '@tensorflow/tfjs-core';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPretrained, type Pretrained } from '../checkpoint/pretrained';
import { readSafetensors } from '../checkpoint/safetensors';
import type { CausalLM } from '../model/causal-lm';
import { setupTestBackend } from '../testing';
import { loadLoraAdapter, saveLoraAdapter, saveMergedPretrained } from './lora-io';
import { parsePeftAdapterConfig } from './peft-config';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures');
// Written by tools/torch_reference_families.py: a PEFT directory for tiny-llama3 (q/v/down_proj, r 4,
// alpha 8, random A and B) and the float64 torch logits of base + adapter.
const PEFT_DIR = join(FIXTURES, 'tiny-llama3-lora');
const IDS = [
  [256, 116, 104, 101, 32, 99, 97, 116],
  [5, 100, 200, 17, 258, 50, 150, 250],
];

let tmp: string;
let llama: Pretrained;
let gpt2: Pretrained;
let expectedLora: number[];

beforeAll(async () => {
  await setupTestBackend();
  tmp = await mkdtemp(join(tmpdir(), 'emrl-lora-'));
  llama = await loadPretrained(join(FIXTURES, 'tiny-llama3'));
  gpt2 = await loadPretrained(join(FIXTURES, 'tiny-gpt2-untied'));
  expectedLora = (JSON.parse(await readFile(join(PEFT_DIR, 'expected_logits.json'), 'utf8')) as { logits: number[][][] }).logits.flat(2);
});
afterAll(async () => {
  llama?.model.dispose();
  gpt2?.model.dispose();
  await rm(tmp, { recursive: true, force: true });
});

function logits(model: CausalLM): Float32Array {
  return tf.tidy(() => model.forward(tf.tensor2d(IDS, [2, 8], 'int32')).dataSync() as Float32Array);
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Next-token cross-entropy over all positions: a scalar that depends on every LoRA parameter. */
function loss(model: CausalLM): tf.Scalar {
  return tf.tidy(() => {
    const lg = model.forward(tf.tensor2d(IDS.map((r) => r.slice(0, 7)), [2, 7], 'int32')); // [2, 7, V]
    const targets = tf.tensor2d(IDS.map((r) => r.slice(1)), [2, 7], 'int32');
    const logp = tf.logSoftmax(lg);
    return tf.neg(tf.mean(tf.sum(tf.mul(logp, tf.oneHot(targets, lg.shape[2])), -1))) as tf.Scalar;
  });
}

/** A model with a fresh adapter whose B is random (PEFT init has B = 0, which hides A's gradient). */
function withRandomLora(base: CausalLM, targets: string[], seed: number): CausalLM {
  const m = base.clone();
  const lora = m.attachLora({ r: 3, alpha: 6, targetModules: targets }, seed);
  let s = seed;
  for (const p of lora.pairs.values()) p.b.assign(tf.randomNormal(p.b.shape, 0, 0.3, 'float32', s++));
  return m;
}

describe('LoRA on a CausalLM (PEFT semantics)', () => {
  it('a fresh adapter (B = 0) leaves the logits unchanged and only its variables are trainable', () => {
    const m = llama.model.clone();
    try {
      const before = logits(m);
      const lora = m.attachLora({ r: 4, alpha: 8, targetModules: ['q_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj', 'k_proj'] }, 1);
      expect(maxDiff(logits(m), before)).toBe(0);
      expect(lora.pairs.size).toBe(2 * 7);
      expect(m.trainableVariables()).toEqual(lora.variables());
      expect([...m.weights.values()].every((w) => !w.trainable)).toBe(true);
      // PEFT init: A ~ U(-1/sqrt(in), 1/sqrt(in)), B = 0.
      const a = lora.pairs.get('model.layers.0.mlp.down_proj')!.a.dataSync();
      const bound = 1 / Math.sqrt(32);
      expect(Math.max(...Array.from(a, Math.abs))).toBeLessThanOrEqual(bound);
      expect(Math.max(...Array.from(a, Math.abs))).toBeGreaterThan(0.8 * bound);
    } finally {
      m.dispose();
    }
  });

  it('base weights get no gradient: tf.variableGrads over all trainable variables sees only LoRA', () => {
    const m = withRandomLora(llama.model, ['q_proj', 'down_proj'], 3);
    try {
      const { value, grads } = tf.variableGrads(() => loss(m));
      const names = Object.keys(grads);
      expect(names.sort()).toEqual(m.getLora()!.variables().map((v) => v.name).sort());
      tf.dispose([value, ...Object.values(grads)]);
    } finally {
      m.dispose();
    }
  });

  it('gradients w.r.t. A and B match central finite differences', () => {
    const m = withRandomLora(llama.model, ['q_proj', 'v_proj', 'down_proj'], 5);
    try {
      const vars = m.getLora()!.variables();
      const { value, grads } = tf.variableGrads(() => loss(m), vars);
      value.dispose();
      const eps = 1e-2;
      let checked = 0;
      for (const v of vars) {
        const g = Float32Array.from(grads[v.name]!.dataSync());
        const data = Float32Array.from(v.dataSync());
        // The entry with the largest gradient, and a direction over the whole tensor.
        const i = g.reduce((best, x, j) => (Math.abs(x) > Math.abs(g[best]!) ? j : best), 0);
        const bump = (delta: (j: number) => number): number => {
          v.assign(tf.tensor(data.map((x, j) => x + delta(j)), v.shape));
          const l = loss(m);
          const out = l.dataSync()[0]!;
          l.dispose();
          return out;
        };
        const fd = (bump((j) => (j === i ? eps : 0)) - bump((j) => (j === i ? -eps : 0))) / (2 * eps);
        expect(Math.abs(fd - g[i]!)).toBeLessThan(1e-3 + 1e-2 * Math.abs(g[i]!));
        const norm = Math.sqrt(g.reduce((s2, _x, j) => s2 + Math.sin(7 * j + 1) ** 2, 0));
        const dir = (j: number): number => Math.sin(7 * j + 1) / norm; // fixed unit direction over the whole tensor
        const directional = g.reduce((s, x, j) => s + x * dir(j), 0);
        const fdDir = (bump((j) => eps * dir(j)) - bump((j) => -eps * dir(j))) / (2 * eps);
        expect(Math.abs(fdDir - directional)).toBeLessThan(1e-3 + 1e-2 * Math.abs(directional));
        v.assign(tf.tensor(data, v.shape));
        checked++;
      }
      expect(checked).toBe(2 * 3 * 2);
      tf.dispose(Object.values(grads));
    } finally {
      m.dispose();
    }
  });

  it('merged logits equal unmerged within 1e-5 (llama and gpt2 Conv1D targets)', () => {
    for (const [base, targets] of [
      [llama.model, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']],
      [gpt2.model, ['c_attn', 'c_proj', 'c_fc']],
    ] as const) {
      const m = withRandomLora(base, [...targets], 11);
      try {
        const unmerged = logits(m);
        expect(maxDiff(unmerged, logits(base))).toBeGreaterThan(1e-2); // the adapter does something
        m.mergeLora();
        expect(m.getLora()).toBeNull();
        expect(maxDiff(logits(m), unmerged)).toBeLessThan(1e-5);
      } finally {
        m.dispose();
      }
    }
  });

  it('names GPT-2 adapter tensors as PEFT does (c_proj matches both attn and mlp)', () => {
    const m = gpt2.model.clone();
    try {
      const names = [...m.attachLora({ r: 2, alpha: 4, targetModules: ['c_attn', 'c_proj'] }).namedVariables()].map(([n, v]) => `${n} ${v.shape.join('x')}`);
      expect(names).toContain('base_model.model.transformer.h.0.attn.c_attn.lora_A.weight 16x2'); // internal [in, r]
      expect(names).toContain('base_model.model.transformer.h.1.mlp.c_proj.lora_B.weight 2x16');
      expect(names).toHaveLength(2 * 3 * 2);
    } finally {
      m.dispose();
    }
  });

  it('rejects targets that the family does not have', () => {
    expect(() => llama.model.clone().attachLora({ r: 2, alpha: 2, targetModules: ['c_attn'] })).toThrow(/"c_attn" is not a linear projection of a llama model; use some of q_proj/);
  });
});

describe('PEFT adapter directories', () => {
  it('loads a directory written by the PyTorch script and matches its base + LoRA logits within 1e-4', async () => {
    const m = llama.model.clone();
    try {
      const lora = await loadLoraAdapter(PEFT_DIR, m);
      expect(lora.config).toMatchObject({ r: 4, alpha: 8, dropout: 0.05, targetModules: ['q_proj', 'v_proj', 'down_proj'] });
      expect(maxDiff(logits(m), expectedLora)).toBeLessThan(1e-4);
    } finally {
      m.dispose();
    }
  });

  it('loads a GPT-2 (Conv1D, fan_in_fan_out) adapter from the PyTorch script and matches its logits within 1e-4', async () => {
    const dir = join(FIXTURES, 'tiny-gpt2-untied-lora');
    const want = (JSON.parse(await readFile(join(dir, 'expected_logits.json'), 'utf8')) as { logits: number[][][] }).logits.flat(2);
    const m = gpt2.model.clone();
    try {
      const lora = await loadLoraAdapter(dir, m);
      expect(lora.pairs.size).toBe(2 * 4); // c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj per layer
      expect(maxDiff(logits(m), want)).toBeLessThan(1e-4);
      const out = join(tmp, 'gpt2-adapter');
      await saveLoraAdapter(out, m);
      expect(JSON.parse(await readFile(join(out, 'adapter_config.json'), 'utf8')).fan_in_fan_out).toBe(true);
    } finally {
      m.dispose();
    }
  });

  it('saves it back with the same PEFT names, shapes and values, and writes a merged HF directory', async () => {
    const m = llama.model.clone();
    try {
      await loadLoraAdapter(PEFT_DIR, m);
      const out = join(tmp, 'adapter');
      await saveLoraAdapter(out, m, { baseModelNameOrPath: 'tiny-llama3' });
      const [ours, theirs] = await Promise.all([readSafetensors(join(out, 'adapter_model.safetensors')), readSafetensors(join(PEFT_DIR, 'adapter_model.safetensors'))]);
      expect([...ours.tensors.keys()].sort()).toEqual([...theirs.tensors.keys()].sort());
      for (const [name, t] of theirs.tensors) {
        expect(ours.tensors.get(name)!.shape).toEqual(t.shape);
        expect(maxDiff(ours.tensors.get(name)!.data, t.data)).toBe(0);
      }
      const cfg = JSON.parse(await readFile(join(out, 'adapter_config.json'), 'utf8'));
      expect(cfg).toMatchObject({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj', 'down_proj'], fan_in_fan_out: false });

      const merged = join(tmp, 'merged');
      await saveMergedPretrained(merged, m, llama.tokenizer, { dtype: 'F32' });
      expect(m.getLora()).not.toBeNull(); // merged a copy
      const again = await loadPretrained(merged);
      try {
        expect(maxDiff(logits(again.model), expectedLora)).toBeLessThan(1e-4);
      } finally {
        again.model.dispose();
      }
    } finally {
      m.dispose();
    }
  });

  it('refuses an adapter for another base model, and PEFT options it does not implement, naming file and field', async () => {
    const qwen3 = await loadPretrained(join(FIXTURES, 'tiny-qwen3'));
    try {
      await expect(loadLoraAdapter(PEFT_DIR, qwen3.model)).rejects.toThrow(/adapter_model\.safetensors: tensor base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_B\.weight has shape \[16, 4\], expected \[32, 4\]: the adapter was made for another base model/);
      expect(qwen3.model.getLora()).toBeNull();
    } finally {
      qwen3.model.dispose();
    }
    const dora = join(tmp, 'dora');
    await cp(PEFT_DIR, dora, { recursive: true });
    const cfg = JSON.parse(await readFile(join(dora, 'adapter_config.json'), 'utf8'));
    await writeFile(join(dora, 'adapter_config.json'), JSON.stringify({ ...cfg, use_dora: true }));
    const m = llama.model.clone();
    try {
      await expect(loadLoraAdapter(dora, m)).rejects.toThrow(/dora\/adapter_config\.json: adapter_config\.json is not a LoRA config emrl can load.*use_dora/s);
      await expect(loadLoraAdapter(join(tmp, 'nowhere'), m)).rejects.toThrow(/adapter_config\.json: missing/);
      await writeFile(join(dora, 'adapter_config.json'), JSON.stringify({ ...cfg, target_modules: ['q_proj', 'lm_head'] }));
      await expect(loadLoraAdapter(dora, m)).rejects.toThrow(/dora\/adapter_config\.json: field "target_modules": targetModules entry "lm_head" is not a linear projection/);
    } finally {
      m.dispose();
    }
  });
});

describe('adapter_config.json options emrl does not implement', () => {
  const base = { peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['q_proj'] };
  it.each([
    ['use_dora', { use_dora: true }, /DoRA \(use_dora: true\): not supported.*merge_and_unload.*\n.*at use_dora/s],
    ['bias', { bias: 'lora_only' }, /training biases.*merge_and_unload.*\n.*at bias/s],
    ['lora_bias', { lora_bias: true }, /a bias on lora_B.*\n.*at lora_bias/s],
    ['modules_to_save', { modules_to_save: ['lm_head'] }, /modules_to_save.*merge_and_unload.*\n.*at modules_to_save/s],
    ['rank_pattern', { rank_pattern: { q_proj: 8 } }, /per-module rank.*\n.*at rank_pattern\.q_proj/s],
    ['alpha_pattern', { alpha_pattern: { q_proj: 16 } }, /per-module alpha.*\n.*at alpha_pattern\.q_proj/s],
    ['layers_to_transform', { layers_to_transform: [0, 1] }, /subset of layers.*\n.*at layers_to_transform/s],
    ['exclude_modules', { exclude_modules: ['o_proj'] }, /exclude_modules: not supported.*\n.*at exclude_modules/s],
    ['target_parameters', { target_parameters: ['experts'] }, /raw parameters.*\n.*at target_parameters/s],
    ['target_modules (regex / all-linear)', { target_modules: 'all-linear' }, /list the module names, e\.g\. \["q_proj", "v_proj"\]\n.*at target_modules/s],
    ['peft_type', { peft_type: 'IA3' }, /LoRA adapters only.*\n.*at peft_type/s],
  ])('%s is refused by name with a fix, naming the file', (_name, extra, message) => {
    expect(() => parsePeftAdapterConfig({ ...base, ...extra }, 'my-adapter/adapter_config.json')).toThrow(/^my-adapter\/adapter_config\.json: /);
    expect(() => parsePeftAdapterConfig({ ...base, ...extra }, 'my-adapter/adapter_config.json')).toThrow(message);
  });

  it('their PEFT defaults (empty patterns, null lists, bias none, lora_dropout) load', () => {
    const { lora } = parsePeftAdapterConfig({ ...base, rank_pattern: {}, alpha_pattern: {}, modules_to_save: null, layers_to_transform: null, bias: 'none', use_dora: false, lora_dropout: 0.05 }, 'f');
    expect(lora).toMatchObject({ r: 4, alpha: 8, dropout: 0.05, targetModules: ['q_proj'] });
  });
});

describe('LoRA memory', () => {
  it('attach, clone, merge and dispose leave no tensors behind, and two adapters can coexist', () => {
    const before = tf.memory().numTensors;
    const m = llama.model.clone();
    const a = m.attachLora({ r: 2, alpha: 4, targetModules: ['q_proj', 'up_proj'] }, 1);
    const copy = m.clone(); // a second adapter (the copy's) alongside the first
    expect(copy.getLora()).not.toBe(a);
    expect(copy.getLora()!.variables()[0]).not.toBe(a.variables()[0]);
    copy.mergeLora();
    copy.dispose();
    m.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('training with LoRA (trainCausalLM)', () => {
  it('updates only the adapter, and the optimizer state is keyed by PEFT names', async () => {
    const { trainCausalLM } = await import('../train/train-causal-lm');
    const { AdamW } = await import('../optim/adamw');
    const m = llama.model.clone();
    try {
      const lora = m.attachLora({ r: 2, alpha: 4, targetModules: ['q_proj', 'down_proj'] }, 2);
      const baseBefore = new Map([...m.weights].map(([n, w]) => [n, Float32Array.from(w.dataSync())]));
      const bBefore = Float32Array.from(lora.pairs.get('model.layers.1.mlp.down_proj')!.b.dataSync());
      const optimizer = new AdamW({ lr: 1e-2 }, { variables: m.namedTrainableVariables() });
      const corpus = Array.from({ length: 200 }, (_, i) => [3, 4, 5, 6, 7][i % 5]!);
      const res = await trainCausalLM(m, { data: { tokens: corpus, seqLen: 8, seed: 1 }, batchSize: 2, steps: 3, padId: 0, optimizer: { lr: 1e-2 }, optimizerInstance: optimizer });
      expect(res.stepsDone).toBe(3);
      for (const [n, w] of m.weights) expect(maxDiff(w.dataSync(), baseBefore.get(n)!)).toBe(0);
      expect(maxDiff(lora.pairs.get('model.layers.1.mlp.down_proj')!.b.dataSync(), bBefore)).toBeGreaterThan(0);
      const stateNames = Object.keys(optimizer.state());
      expect(stateNames.some((k) => k.includes('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight'))).toBe(true);
      expect(stateNames.some((k) => k.includes('embed_tokens'))).toBe(false);
      optimizer.dispose();
    } finally {
      m.dispose();
    }
  });
});

describe('disableLora', () => {
  it('forward({ disableLora: true }) is the base model (a reference without a weight copy)', () => {
    const m = withRandomLora(llama.model, ['q_proj', 'up_proj'], 17);
    try {
      const base = logits(llama.model);
      const off = tf.tidy(() => m.forward(tf.tensor2d(IDS, [2, 8], 'int32'), { disableLora: true }).dataSync());
      expect(maxDiff(off, base)).toBe(0);
      expect(maxDiff(logits(m), base)).toBeGreaterThan(1e-2);
    } finally {
      m.dispose();
    }
  });
});

describe('LoRA scale', () => {
  it('is alpha / r, or alpha / sqrt(r) with useRslora (arXiv 2312.03732)', () => {
    const m = llama.model.clone();
    try {
      expect(m.attachLora({ r: 4, alpha: 8, targetModules: ['q_proj'] }).scale).toBe(2);
      m.detachLora()!.dispose();
      expect(m.attachLora({ r: 4, alpha: 8, targetModules: ['q_proj'], useRslora: true }).scale).toBe(4);
      expect([...m.weights.values()].every((w) => !w.trainable)).toBe(true);
      m.detachLora()!.dispose();
      expect([...m.weights.values()].every((w) => w.trainable)).toBe(true);
    } finally {
      m.dispose();
    }
  });
});
