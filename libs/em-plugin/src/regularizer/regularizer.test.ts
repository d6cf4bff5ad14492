import * as tf from '@tensorflow/tfjs-core';
import { setupTestBackend } from '@emrl/lm/testing';
import { lossTermInputFromLogits, type LossTermInput } from '@emrl/rl-grpo';
import { beforeAll, describe, expect, it } from 'vitest';
import { tokenEntropyLoss } from '../shared/losses';
import { adaptiveCoefUpdate, EmLossTerm, EmRegularizerConfigSchema, EmRegularizerPlugin, scheduledCoef } from './regularizer';
import { randomLogits } from '../testing';

beforeAll(async () => {
  await setupTestBackend();
});

function input(step: number, logits: tf.Tensor3D, lossMask: tf.Tensor2D, temperature = 1): LossTermInput {
  const [b, t] = lossMask.shape;
  return lossTermInputFromLogits({ logits, lossMask, microBatch: 0, targets: tf.zeros([b, t], 'int32') as tf.Tensor2D, temperature, step, totalSteps: 10 });
}

describe('coefficient schedules', () => {
  it('fixed, linear warmup and cosine decay', () => {
    expect(scheduledCoef({ type: 'fixed', value: 0.3 }, 7, 10)).toBe(0.3);
    const warm = { type: 'linear-warmup' as const, value: 1, warmupSteps: 4 };
    expect([0, 1, 2, 3, 4, 9].map((s) => scheduledCoef(warm, s, 10))).toEqual([0.25, 0.5, 0.75, 1, 1, 1]);
    const cos = { type: 'cosine-decay' as const, value: 1, finalValue: 0.2, warmupSteps: 0 };
    expect(scheduledCoef(cos, 0, 11)).toBeCloseTo(1, 12);
    expect(scheduledCoef(cos, 5, 11)).toBeCloseTo(0.6, 12); // halfway
    expect(scheduledCoef(cos, 10, 11)).toBeCloseTo(0.2, 12); // last step
    expect(scheduledCoef(cos, 3, 11)).toBeCloseTo(0.2 + 0.8 * 0.5 * (1 + Math.cos(Math.PI * 0.3)), 12);
    expect(scheduledCoef(cos, 20, 11)).toBeCloseTo(0.2, 12);
    const cosWarm = { type: 'cosine-decay' as const, value: 2, finalValue: 0, warmupSteps: 2, decaySteps: 4 };
    expect([0, 1, 2, 4, 6].map((s) => scheduledCoef(cosWarm, s, 100))).toEqual([1, 2, 2, 1, 0].map((x) => expect.closeTo(x, 12)));
  });

  it('adaptive: entropy above target raises coef, below lowers it, clamped at min/max', () => {
    const s = EmRegularizerConfigSchema.parse({ coef: { type: 'adaptive', targetEntropy: 1, lr: 0.1, max: 0.5 } }).coef;
    if (s.type !== 'adaptive') throw new Error('schema');
    expect(adaptiveCoefUpdate(0.2, 2, s)).toBeCloseTo(0.3, 12);
    expect(adaptiveCoefUpdate(0.2, 0.5, s)).toBeCloseTo(0.15, 12);
    expect(adaptiveCoefUpdate(0.01, 0, s)).toBe(0);
    expect(adaptiveCoefUpdate(0.45, 5, s)).toBe(0.5);
  });

  it('rejects max < min', () => {
    expect(() => EmRegularizerConfigSchema.parse({ coef: { type: 'adaptive', targetEntropy: 1, lr: 0.1, min: 0.5, max: 0.1 } })).toThrow(/coef.max/);
  });
});

describe('EmRegularizerPlugin', () => {
  it('loss equals tokenEntropyLoss at its own temperature or the trainer one', () => {
    const logits = randomLogits(11, 2, 5, 6);
    const mask = tf.tensor2d([
      [0, 1, 1, 1, 0],
      [0, 0, 1, 1, 1],
    ]);
    const own = new EmRegularizerPlugin({ temperature: 0.5, coef: { type: 'fixed', value: 0.1 } });
    const out = own.compute(input(0, logits, mask, 1));
    expect(out.coef).toBe(0.1);
    const expected = tokenEntropyLoss({ logits, lossMask: mask, temperature: 0.5 }).dataSync()[0]!;
    expect(out.loss.dataSync()[0]).toBeCloseTo(expected, 6);
    expect((out.metrics!['entropy'] as tf.Scalar).dataSync()[0]).toBeCloseTo(expected, 6);
    const inherit = new EmRegularizerPlugin({ lastFraction: 0.5 });
    const out2 = inherit.compute(input(0, logits, mask, 0.8));
    const expected2 = tokenEntropyLoss({ logits, lossMask: mask, temperature: 0.8, lastFraction: 0.5 }).dataSync()[0]!;
    expect(out2.loss.dataSync()[0]).toBeCloseTo(expected2, 6);
    expect(inherit.name).toBe('em-regularizer');
    // The same term is the warm start's and compression's loss under the name 'em'.
    expect(new EmLossTerm({}, 'em').name).toBe('em');
    expect(out.normalizer).toBe('tokens');
    expect(new EmLossTerm({ pooling: 'sequence-mean' }).compute(input(0, logits, mask)).normalizer).toBe('sequences');
  });

  it('adaptive coef follows afterStep metrics and survives state()/loadState()', () => {
    const p = new EmRegularizerPlugin({ coef: { type: 'adaptive', initial: 0.1, targetEntropy: 1, lr: 0.05 } });
    p.afterStep({ 'em-regularizer/entropy': 3 }); // +0.1
    p.afterStep({ 'em-regularizer/entropy': 2 }); // +0.05
    expect(p.coefAt(0, 10)).toBeCloseTo(0.25, 12);
    const q = new EmRegularizerPlugin({ coef: { type: 'adaptive', initial: 0.1, targetEntropy: 1, lr: 0.05 } });
    q.loadState(p.state());
    expect(q.coefAt(5, 10)).toBeCloseTo(0.25, 12);
    expect(q.state()).toEqual({ coef: p.state()['coef'], updates: 2 });
    expect(() => q.afterStep({ other: 1 })).toThrow(/em-regularizer\/entropy/);
  });

  it('scheduled coef is reported per step through compute', () => {
    const logits = randomLogits(12, 1, 3, 4);
    const mask = tf.ones([1, 3]) as tf.Tensor2D;
    const p = new EmRegularizerPlugin({ coef: { type: 'linear-warmup', value: 0.4, warmupSteps: 2 } });
    expect([0, 1, 2].map((s) => p.compute(input(s, logits, mask)).coef)).toEqual([0.2, 0.4, 0.4]);
  });
});
