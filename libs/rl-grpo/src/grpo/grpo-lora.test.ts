// LoRA in GRPO: the stage's attach / continue rule, the frozen reference without a model copy,
// and the GRPO loss gradient w.r.t. adapter variables against central finite differences.
import * as tf from '@tensorflow/tfjs-core';
import { packBatchArrays, toPackedBatch, tokenLogProbsAndEntropy, type CausalLM, type PackedArrays } from '@emrl/lm';
import { makeTinyModel, setupTestBackend } from '@emrl/lm/testing';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { prepareStageLora, StageLoraConfigSchema } from '../stage-kit/stage-lora';
import { lossTermInputFromLogits } from '../stage-kit/plugin';
import { GrpoPolicyTerm } from './grpo-policy-term';

const LORA = { r: 2, alpha: 4, targetModules: ['q_proj', 'v_proj', 'down_proj'] };
const models: CausalLM[] = [];
function tiny(seed = 1): CausalLM {
  const m = makeTinyModel({ family: 'llama', vocabSize: 40, seed, weightScale: 3 });
  models.push(m);
  return m;
}
/** Random B (PEFT's init has B = 0, so a fresh adapter is the identity and hides mistakes). */
function randomizeB(m: CausalLM, seed: number, std = 0.3): void {
  let s = seed;
  tf.tidy(() => {
    for (const p of m.getLora()!.pairs.values()) p.b.assign(tf.randomNormal(p.b.shape, 0, std, 'float32', s++));
  });
}

// Two rows: prompts [3 4 5] / [6 7], responses [8 9 10 11] / [12 13 14].
const PACKED: PackedArrays = packBatchArrays([[3, 4, 5], [6, 7]], [[8, 9, 10, 11], [12, 13, 14]], 0);

function logprobs(model: CausalLM): Float32Array {
  return tf.tidy(() => {
    const b = toPackedBatch(PACKED);
    return tokenLogProbsAndEntropy(model.forward(b.inputIds, { attentionMask: b.attentionMask }), b.targets, 1).logProbs.dataSync() as Float32Array;
  });
}
async function refOf(term: GrpoPolicyTerm): Promise<Float32Array> {
  await term.prepare({ microBatches: [PACKED], step: 0, temperature: 1 });
  const ref = (term as unknown as { refLogprobs: tf.Tensor2D[] }).refLogprobs[0]!.dataSync() as Float32Array;
  term.release();
  return ref;
}
function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
function termFor(model: CausalLM, loraAttachedByStage: boolean, beta = 0.5, iterations = 1): GrpoPolicyTerm {
  return new GrpoPolicyTerm({ model, epsLow: 0.2, epsHigh: 0.2, beta, importanceLevel: 'token', lossType: 'bnpo', maxCompletionLength: 4, iterations, loraAttachedByStage });
}

beforeAll(async () => {
  await setupTestBackend();
});
afterEach(() => {
  models.splice(0).forEach((m) => m.dispose());
});

describe('prepareStageLora', () => {
  it('attaches a seeded adapter (same run seed and stage id = same init), then continues it', () => {
    const [a, b, c] = [tiny(), tiny(), tiny()];
    const first = prepareStageLora(a, StageLoraConfigSchema.parse(LORA), { seed: 7, stageId: 'em' });
    prepareStageLora(b, StageLoraConfigSchema.parse(LORA), { seed: 7, stageId: 'em' });
    prepareStageLora(c, StageLoraConfigSchema.parse(LORA), { seed: 7, stageId: 'grpo' });
    expect(first.attachedByStage).toBe(true);
    expect(first.log).toMatch(/^attached LoRA \(r 2, alpha 4, targets q_proj v_proj down_proj\): \d+ trainable parameters/);
    const aOf = (m: CausalLM) => Array.from(m.getLora()!.pairs.get('model.layers.0.self_attn.q_proj')!.a.dataSync());
    expect(aOf(a)).toEqual(aOf(b));
    expect(aOf(a)).not.toEqual(aOf(c));
    // A later stage with the same options (targets in another order), or none, continues the adapter.
    const again = prepareStageLora(a, StageLoraConfigSchema.parse({ ...LORA, targetModules: ['down_proj', 'q_proj', 'v_proj'] }), { seed: 7, stageId: 'grpo' });
    expect(again.attachedByStage).toBe(false);
    expect(again.log).toMatch(/^continuing to train the LoRA adapter the policy carries/);
    expect(prepareStageLora(a, undefined, { seed: 7, stageId: 'x' }).attachedByStage).toBe(false);
    expect(prepareStageLora(tiny(), undefined, { seed: 7, stageId: 'x' })).toEqual({ attachedByStage: false, log: null });
  });

  it('refuses options that differ from the attached adapter (dropout included), with the fix', () => {
    const m = tiny();
    prepareStageLora(m, StageLoraConfigSchema.parse(LORA), { seed: 1, stageId: 'em' });
    expect(() => prepareStageLora(m, StageLoraConfigSchema.parse({ ...LORA, r: 4 }), { seed: 1, stageId: 'grpo' })).toThrow(
      'stage "grpo": lora (r 4, alpha 4, targets q_proj v_proj down_proj) differs from the LoRA adapter the policy already carries (r 2, alpha 4, targets q_proj v_proj down_proj)',
    );
    // dropout acts in the trainer's train-mode forward (lora-dropout.test.ts, trainer.test.ts); it must match too.
    expect(() => prepareStageLora(m, StageLoraConfigSchema.parse({ ...LORA, dropout: 0.1 }), { seed: 1, stageId: 'grpo' })).toThrow(
      'lora (r 2, alpha 4, targets q_proj v_proj down_proj, dropout 0.1) differs from the LoRA adapter the policy already carries (r 2, alpha 4, targets q_proj v_proj down_proj)',
    );
    const bad = StageLoraConfigSchema.safeParse({ ...LORA, dropout: 1 });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues[0]!.path).toEqual(['dropout']);
    expect(StageLoraConfigSchema.safeParse({ ...LORA, rank: 2 }).success).toBe(false);
    expect(() => prepareStageLora(tiny(), StageLoraConfigSchema.parse({ ...LORA, targetModules: ['c_attn'] }), { seed: 1, stageId: 'em' })).toThrow(
      'stage "em": lora.targetModules: targetModules entry "c_attn" is not a linear projection of a qwen2 model; use some of q_proj, k_proj',
    );
  });
});

describe('GRPO reference under LoRA', () => {
  it('adapter attached by the stage: the reference is the base model without it, and costs no weight copy', async () => {
    const m = tiny();
    const base = m.clone(); // independent: the weights before any adapter exists
    models.push(base);
    m.attachLora(LORA, 3);
    randomizeB(m, 11); // as if training had moved the adapter
    const bytes = tf.memory().numBytes;
    const term = termFor(m, true);
    expect(tf.memory().numBytes).toBe(bytes);
    expect(maxDiff(await refOf(term), logprobs(base))).toBeLessThan(1e-6);
    expect(maxDiff(logprobs(m), logprobs(base))).toBeGreaterThan(1e-3); // the adapter does change the policy
    term.dispose();
  });

  it('adapter the policy entered with: the reference is base + that adapter frozen; only the adapter is copied', async () => {
    const m = tiny();
    m.attachLora(LORA, 3);
    randomizeB(m, 11);
    const entering = m.clone();
    entering.mergeLora(); // independent of the reference code: plain weights W + s A B
    models.push(entering);
    const bytes = tf.memory().numBytes;
    const term = termFor(m, false);
    expect(tf.memory().numBytes - bytes).toBe(4 * m.getLora()!.numParameters());
    randomizeB(m, 99); // training moves the live adapter; the reference must not move
    expect(maxDiff(await refOf(term), logprobs(entering))).toBeLessThan(1e-5);
    expect(maxDiff(logprobs(m), logprobs(entering))).toBeGreaterThan(1e-3);
    const before = tf.memory().numTensors;
    term.dispose();
    expect(tf.memory().numTensors).toBe(before - 2 * m.getLora()!.pairs.size);
  });

  it('without LoRA the reference is still a frozen copy of the model', async () => {
    const m = tiny();
    const entering = m.clone();
    models.push(entering);
    const term = termFor(m, false);
    tf.tidy(() => [...m.weights.values()].forEach((w) => w.assign(tf.add(w, 0.01))));
    expect(maxDiff(await refOf(term), logprobs(entering))).toBe(0);
    term.dispose();
  });
});

describe('GRPO loss gradient w.r.t. LoRA variables', () => {
  it('matches central finite differences (k3 KL to the frozen adapter active)', async () => {
    const m = tiny();
    m.attachLora(LORA, 3);
    randomizeB(m, 5, 0.2);
    // iterations 2: the old log-probs are constants (with mu = 1 they are stopGradient(logprobs),
    // so the ratio is 1 at every perturbed point and finite differences would miss the policy term).
    const term = termFor(m, false, 0.5, 2);
    randomizeB(m, 6, 0.2); // policy != reference, so the KL term has a gradient
    await term.prepare({ microBatches: [PACKED], step: 0, temperature: 1 });
    const advantages = tf.tensor1d([1.0, -0.7]);
    const lossOf = (): tf.Scalar =>
      tf.tidy(() => {
        const b = toPackedBatch(PACKED);
        const logits = m.forward(b.inputIds, { attentionMask: b.attentionMask }); // [2, T, V]
        const out = term.compute(lossTermInputFromLogits({ logits, targets: b.targets, lossMask: b.lossMask, temperature: 1, step: 0, totalSteps: 1, advantages, microBatch: 0 }));
        return out.loss;
      });
    const vars = m.getLora()!.variables();
    const { value, grads } = tf.variableGrads(lossOf, vars);
    value.dispose();
    // Probe a few entries of an A and a B matrix (central differences in float32: h = 1e-2).
    const h = 1e-2;
    const probes: [tf.Variable, number][] = [
      [m.getLora()!.pairs.get('model.layers.0.self_attn.q_proj')!.a, 3],
      [m.getLora()!.pairs.get('model.layers.1.mlp.down_proj')!.b, 5],
      [m.getLora()!.pairs.get('model.layers.1.self_attn.v_proj')!.b, 1],
    ];
    for (const [v, i] of probes) {
      const at = (delta: number): number => {
        const d = v.dataSync().slice() as Float32Array;
        const orig = d[i]!;
        d[i] = orig + delta;
        tf.tidy(() => v.assign(tf.tensor(d, v.shape)));
        const l = lossOf();
        const x = l.dataSync()[0]!;
        l.dispose();
        d[i] = orig;
        tf.tidy(() => v.assign(tf.tensor(d, v.shape)));
        return x;
      };
      const fd = (at(h) - at(-h)) / (2 * h);
      const g = grads[v.name]!.dataSync()[i]!;
      expect(Math.abs(g)).toBeGreaterThan(1e-4);
      expect(Math.abs(fd - g), `fd ${fd} vs grad ${g}`).toBeLessThan(2e-5 + 1e-2 * Math.abs(g)); // measured: at most 7e-6
    }
    tf.dispose([advantages, ...Object.values(grads)]);
    term.dispose();
  });
});
