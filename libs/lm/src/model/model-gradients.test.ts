import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { packBatch } from '../ops/pack-batch';
import { maskedSum } from '../ops/masked';
import { tokenEntropy, tokenLogProbs } from '../ops/token-stats';
import { makeTinyModel, setupTestBackend } from '../testing';
import type { CausalLM } from './causal-lm';

// Gradients of the trainers' per-token helpers w.r.t. MODEL PARAMETERS agree with central finite
// differences on a tiny model (both families): the whole chain forward -> log-softmax / entropy.
const TAU = 0.7;

function objective(model: CausalLM): tf.Scalar {
  return tf.tidy(() => {
    const b = packBatch([[5, 9, 3], [7, 2]], [[4, 8, 1, 6], [3, 3]], 0);
    const logits = model.forward(b.inputIds, { attentionMask: b.attentionMask });
    const lp = maskedSum(tokenLogProbs(logits, b.targets, TAU), b.lossMask);
    const h = maskedSum(tokenEntropy(logits, TAU), b.lossMask);
    return tf.add(lp, tf.mul(h, 0.3)) as tf.Scalar;
  });
}

function valueOf(model: CausalLM): number {
  const t = objective(model);
  const v = t.dataSync()[0]!;
  t.dispose();
  return v;
}

function perturb(v: tf.Variable, index: number, delta: number): void {
  const data = v.dataSync().slice();
  data[index] = data[index]! + delta;
  tf.tidy(() => v.assign(tf.tensor(data, v.shape, 'float32')));
}

describe('parameter gradients vs finite differences', () => {
  beforeAll(async () => {
    await setupTestBackend();
  });

  for (const family of ['gpt2', 'llama'] as const) {
    it(`${family}: d(sum logp + 0.3 sum H)/d(theta) matches central differences`, () => {
      const model = makeTinyModel({ family, seed: 11, vocabSize: 16, weightScale: 1 });
      const vars = model.trainableVariables();
      const { value, grads } = tf.variableGrads(() => objective(model), vars);
      value.dispose();
      const names = [...model.weights.keys()];
      // A spread of parameters: embeddings, attention, MLP, norms (every 3rd weight tensor).
      const picked = names.filter((_, i) => i % 3 === 0);
      expect(picked.length).toBeGreaterThan(3);
      let checked = 0;
      for (const name of picked) {
        const v = model.weights.get(name)!;
        const g = grads[v.name]!.dataSync();
        const size = v.size;
        for (const index of [0, Math.floor(size / 2), size - 1]) {
          const eps = 1e-2;
          perturb(v, index, eps);
          const up = valueOf(model);
          perturb(v, index, -2 * eps);
          const down = valueOf(model);
          perturb(v, index, eps);
          const fd = (up - down) / (2 * eps);
          // float32 forward passes: allow ~1e-3 absolute plus 3% relative.
          expect(Math.abs(g[index]! - fd), `${name}[${index}] analytic ${g[index]} vs fd ${fd}`).toBeLessThanOrEqual(2e-3 + 0.03 * Math.abs(fd));
          checked++;
        }
      }
      expect(checked).toBeGreaterThan(9);
      Object.values(grads).forEach((t) => t.dispose());
      model.dispose();
    });
  }
});
