import { describe, expect, it, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { setupTestBackend } from '../testing';
import { AdamW } from './adamw';

beforeAll(async () => {
  await setupTestBackend();
});

const W0 = [0.5, -1.25, 2, 0.1, -0.3, 1.7]; // [2, 3]
const B0 = [0.2, -0.4, 0.05]; // [3]
// gradient per step, fixed so the reference needs no autodiff
const GW = [
  [0.1, -0.2, 0.3, 1.5, -0.01, 0.0],
  [-0.4, 0.25, 0.3, -2, 0.02, 0.6],
  [0.05, 0.05, -0.9, 0.7, 0.0, -0.3],
];
const GB = [
  [1, -1, 0.5],
  [0.3, 0.2, -0.1],
  [-0.6, 0.0, 0.9],
];
const LRS = [1e-2, 5e-3, 2e-2];

/** Double-precision torch.optim.AdamW reference (decoupled decay before the Adam step). */
function refAdamW(p0: number[], gs: number[][], lrs: number[], b1: number, b2: number, eps: number, wd: number): number[] {
  const p = p0.slice();
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  gs.forEach((g, s) => {
    const t = s + 1;
    const lr = lrs[s]!;
    for (let i = 0; i < p.length; i++) {
      p[i] = p[i]! * (1 - lr * wd);
      m[i] = b1 * m[i]! + (1 - b1) * g[i]!;
      v[i] = b2 * v[i]! + (1 - b2) * g[i]! * g[i]!;
      const mh = m[i]! / (1 - Math.pow(b1, t));
      const vh = v[i]! / (1 - Math.pow(b2, t));
      p[i] = p[i]! - (lr * mh) / (Math.sqrt(vh) + eps);
    }
  });
  return p;
}

function expectClose(got: ArrayLike<number>, want: number[], tol = 2e-6): void {
  expect(got.length).toBe(want.length);
  want.forEach((w, i) => expect(Math.abs(got[i]! - w)).toBeLessThan(tol * (1 + Math.abs(w))));
}

describe('AdamW', () => {
  it('matches a double-precision AdamW reference over 3 steps with weight decay', () => {
    const w = tf.variable(tf.tensor2d(W0, [2, 3]));
    const b = tf.variable(tf.tensor1d(B0));
    const opt = new AdamW({ lr: 1, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1 });
    for (let s = 0; s < 3; s++) {
      tf.tidy(() => opt.applyGradients(new Map<tf.Variable, tf.Tensor>([[w, tf.tensor2d(GW[s]!, [2, 3])], [b, tf.tensor1d(GB[s]!)]]), LRS[s]));
    }
    expectClose(w.dataSync(), refAdamW(W0, GW, LRS, 0.9, 0.95, 1e-8, 0.1));
    expectClose(b.dataSync(), refAdamW(B0, GB, LRS, 0.9, 0.95, 1e-8, 0.1));
    // weight decay really acted: the no-decay reference differs by more than the tolerance
    const noDecay = refAdamW(W0, GW, LRS, 0.9, 0.95, 1e-8, 0);
    expect(Math.abs(noDecay[2]! - w.dataSync()[2]!)).toBeGreaterThan(1e-4);
    opt.dispose();
    tf.dispose([w, b]);
  });

  it('accepts name-keyed gradients, follows the schedule by default and honours decayFilter', () => {
    const w = tf.variable(tf.tensor2d(W0, [2, 3]));
    const b = tf.variable(tf.tensor1d(B0));
    const opt = new AdamW(
      { lr: 0.01, weightDecay: 0.5, schedule: { type: 'warmup-linear', warmupSteps: 2, totalSteps: 4, minLrRatio: 0 } },
      { variables: new Map<string, tf.Variable>([['w', w], ['b', b]]), decayFilter: (_n, v) => v.rank >= 2 },
    );
    const lrs = [0.005, 0.01, 0.01];
    for (let s = 0; s < 3; s++) {
      expect(opt.currentLr()).toBeCloseTo(lrs[s]!, 12);
      tf.tidy(() => opt.applyGradients({ w: tf.tensor2d(GW[s]!, [2, 3]), b: tf.tensor1d(GB[s]!) }));
    }
    expectClose(w.dataSync(), refAdamW(W0, GW, lrs, 0.9, 0.999, 1e-8, 0.5));
    expectClose(b.dataSync(), refAdamW(B0, GB, lrs, 0.9, 0.999, 1e-8, 0)); // 1-D: no decay
    expect(() => opt.applyGradients({ nope: tf.zeros([1]) })).toThrow(/no variable named "nope"/);
    // state is keyed by the Map names even when gradients were keyed by name or tfjs name
    tf.tidy(() => opt.applyGradients({ [w.name]: tf.zerosLike(w) }));
    const st = opt.state();
    expect(Object.keys(st).sort()).toEqual(['b/m', 'b/step', 'b/v', 'optimizer/iterations', 'w/m', 'w/step', 'w/v']);
    expect(st['w/step']!.dataSync()[0]).toBe(4);
    tf.dispose(Object.values(st));
    opt.dispose();
    tf.dispose([w, b]);
  });

  it('state() / loadState() resumes to the same trajectory', () => {
    const mk = (): tf.Variable => tf.variable(tf.tensor1d(B0), true, `adamw-resume-${Math.random()}`);
    const a = mk();
    const optA = new AdamW({ lr: 0.05 });
    for (let s = 0; s < 2; s++) tf.tidy(() => optA.applyGradients(new Map([[a, tf.tensor1d(GB[s]!)]])));
    const saved = optA.state();
    expect(Object.keys(saved).sort()).toEqual([`${a.name}/m`, `${a.name}/step`, `${a.name}/v`, 'optimizer/iterations'].sort());
    const b = tf.variable(a.clone(), true, `adamw-resume-b-${Math.random()}`);
    const optB = new AdamW({ lr: 0.05 }, { variables: new Map([[a.name, b]]) });
    optB.loadState(saved);
    tf.dispose(Object.values(saved));
    expect(optB.iterations).toBe(2);
    tf.tidy(() => optA.applyGradients(new Map([[a, tf.tensor1d(GB[2]!)]])));
    tf.tidy(() => optB.applyGradients({ [a.name]: tf.tensor1d(GB[2]!) }));
    expectClose(b.dataSync(), Array.from(a.dataSync()), 1e-7);
    expectClose(a.dataSync(), refAdamW(B0, GB, [0.05, 0.05, 0.05], 0.9, 0.999, 1e-8, 0.01));
    optA.dispose();
    optB.dispose();
    tf.dispose([a, b]);
  });

  it('leaks no tensors over 50 steps', () => {
    const w = tf.variable(tf.randomNormal([4, 5]));
    const opt = new AdamW({ lr: 1e-3, gradClip: 1 });
    tf.tidy(() => opt.applyGradients(new Map([[w, tf.onesLike(w)]]))); // creates the moments
    const before = tf.memory().numTensors;
    for (let s = 0; s < 50; s++) {
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => tf.sum(tf.square(w)), [w]);
        opt.applyGradients(grads);
      });
    }
    expect(tf.memory().numTensors).toBe(before);
    opt.dispose();
    w.dispose();
    expect(tf.memory().numTensors).toBe(before - 3);
  });

  it('rejects an invalid config with the field named', () => {
    expect(() => new AdamW({ lr: -1 })).toThrow(/lr/);
    expect(() => new AdamW({ lr: 1, schedule: { type: 'warmup-cosine', warmupSteps: 10, totalSteps: 5 } })).toThrow(/warmupSteps/);
  });
});
