import * as tf from '@tensorflow/tfjs-core';
import { setupTestBackend } from '@emrl/lm/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { GrpoLossConfigSchema, grpoLoss, readGrpoLossMetrics, type GrpoLossConfig, type GrpoLossInput } from './loss';

beforeAll(async () => {
  await setupTestBackend();
});

// ---- independent double-precision reference (plain JS) --------------------------------------
interface Arrays {
  logp: number[][];
  old: number[][];
  ref?: number[][];
  adv: number[];
  mask: number[][];
}

function refLoss(a: Arrays, c: GrpoLossConfig): number {
  const B = a.logp.length;
  const T = a.logp[0]!.length;
  const per: number[][] = [];
  for (let b = 0; b < B; b++) {
    let seqLog = 0;
    let n = 0;
    for (let t = 0; t < T; t++) {
      if (a.mask[b]![t]) {
        seqLog += a.logp[b]![t]! - a.old[b]![t]!;
        n++;
      }
    }
    const row: number[] = [];
    for (let t = 0; t < T; t++) {
      const lr = c.importanceLevel === 'token' ? a.logp[b]![t]! - a.old[b]![t]! : seqLog / Math.max(n, 1);
      const rho = Math.exp(lr);
      const clip = Math.min(Math.max(rho, 1 - c.epsLow), 1 + c.epsHigh);
      let l = -Math.min(rho * a.adv[b]!, clip * a.adv[b]!);
      if (a.ref && c.beta > 0) {
        const d = a.ref[b]![t]! - a.logp[b]![t]!;
        l += c.beta * (Math.exp(d) - d - 1);
      }
      row.push(l * a.mask[b]![t]!);
    }
    per.push(row);
  }
  const sum = per.flat().reduce((x, y) => x + y, 0);
  const count = a.mask.flat().reduce((x, y) => x + y, 0);
  if (c.lossType === 'bnpo') return sum / Math.max(count, 1);
  if (c.lossType === 'dr_grpo') return sum / (B * c.maxCompletionLength!);
  let s = 0;
  for (let b = 0; b < B; b++) {
    const n = a.mask[b]!.reduce((x, y) => x + y, 0);
    s += per[b]!.reduce((x, y) => x + y, 0) / Math.max(n, 1);
  }
  return s / B;
}

function tensors(a: Arrays): Omit<GrpoLossInput, keyof GrpoLossConfig> {
  return {
    logprobs: tf.tensor2d(a.logp),
    oldLogprobs: tf.tensor2d(a.old),
    refLogprobs: a.ref ? tf.tensor2d(a.ref) : undefined,
    advantages: tf.tensor1d(a.adv),
    mask: tf.tensor2d(a.mask),
  };
}

/** Loss value, metrics and d loss / d logprobs from the tfjs implementation. */
function run(a: Arrays, cfg: Partial<GrpoLossConfig>): { loss: number; grad: number[][]; metrics: Record<string, number> } {
  const t = tensors(a);
  let metrics: Record<string, number> = {};
  const g = tf.valueAndGrad((lp: tf.Tensor) => {
    const out = grpoLoss({ ...t, ...cfg, logprobs: lp as tf.Tensor2D });
    metrics = readGrpoLossMetrics(out.metrics);
    return out.loss;
  });
  const { value, grad } = g(t.logprobs);
  const res = { loss: value.dataSync()[0]!, grad: grad.arraySync() as number[][], metrics };
  tf.dispose([value, grad, t.logprobs, t.oldLogprobs, t.refLogprobs, t.advantages as tf.Tensor, t.mask]);
  return res;
}

// ---- hand-computed example ---------------------------------------------------------------------
// ratios rho = [[1.5, 1.0], [0.5, 0.9]], A = [1, -1], mask [[1, 1], [1, 0]], eps 0.2 / 0.2:
//   seq0: t0 rho 1.5 > 1.2 with A > 0 -> clipped, l = -1.2; t1 l = -1
//   seq1: t0 rho 0.5 < 0.8 with A < 0 -> clipped, l = +0.8; t1 masked
const HAND: Arrays = {
  logp: [
    [Math.log(1.5), 0],
    [Math.log(0.5), Math.log(0.9)],
  ],
  old: [
    [0, 0],
    [0, 0],
  ],
  adv: [1, -1],
  mask: [
    [1, 1],
    [1, 0],
  ],
};
// ref - logp = [[0, ln 2], [-ln 2, 0]]: k3 = 0, 2 - ln 2 - 1, 0.5 + ln 2 - 1 (the last two sum to 0.5).
const HAND_REF = [
  [Math.log(1.5), Math.log(2)],
  [Math.log(0.5) - Math.log(2), Math.log(0.9)],
];

describe('grpoLoss on a hand-computed batch', () => {
  it('aggregates as grpo / bnpo / dr_grpo', () => {
    expect(run(HAND, { lossType: 'grpo' }).loss).toBeCloseTo(-0.15, 6); // mean(-1.1, 0.8)
    expect(run(HAND, { lossType: 'bnpo' }).loss).toBeCloseTo(-1.4 / 3, 6);
    expect(run(HAND, { lossType: 'dr_grpo', maxCompletionLength: 4 }).loss).toBeCloseTo(-1.4 / 8, 6);
  });

  it('reports TRL clip ratios and the ratio mean', () => {
    const { metrics } = run(HAND, {});
    expect(metrics['clip_ratio/low_mean']).toBeCloseTo(1 / 3, 6);
    expect(metrics['clip_ratio/high_mean']).toBeCloseTo(1 / 3, 6);
    expect(metrics['clip_ratio/region_mean']).toBeCloseTo(2 / 3, 6);
    expect(metrics['ratio/mean']).toBeCloseTo(1, 6); // (1.5 + 1 + 0.5) / 3
    expect(metrics['kl']).toBe(0);
  });

  it('adds beta * k3 KL and reports its masked mean', () => {
    const r = run({ ...HAND, ref: HAND_REF }, { beta: 0.1 });
    expect(r.metrics['kl']).toBeCloseTo(0.5 / 3, 6);
    // seq0: (-1.2 - 1 + 0.1 (1 - ln 2)) / 2; seq1: 0.8 + 0.1 (ln 2 - 0.5); mean of the two.
    expect(r.loss).toBeCloseTo(-0.1326713204860014, 6);
  });

  it('clipped and masked tokens get zero gradient; the rest -A rho / (n_b B)', () => {
    const { grad } = run(HAND, { lossType: 'grpo' });
    expect(grad[0]![0]).toBe(0); // high-clipped
    expect(grad[1]![0]).toBe(0); // low-clipped
    expect(grad[1]![1]).toBe(0); // masked
    expect(grad[0]![1]).toBeCloseTo(-0.25, 6); // -A * rho / (n_0 = 2) / (B = 2)
  });

  it('a ratio outside the clip range on the unclipped side keeps its gradient', () => {
    // rho = 1.5 with A < 0: min picks the unclipped -1.5 * |A| term, so the gradient flows.
    const a: Arrays = { logp: [[Math.log(1.5)]], old: [[0]], adv: [-1], mask: [[1]] };
    const r = run(a, {});
    expect(r.loss).toBeCloseTo(1.5, 5);
    expect(r.grad[0]![0]).toBeCloseTo(1.5, 5);
    expect(r.metrics['clip_ratio/region_mean']).toBe(0);
  });

  it('GSPO sequence ratio: exp(mean masked log ratio) broadcast to the tokens', () => {
    // seq0 rho = sqrt(1.5) = 1.2247 > 1.2 (clipped, A > 0); seq1 rho = 0.5 (only t0 counts, clipped).
    const r = run(HAND, { importanceLevel: 'sequence' });
    expect(r.loss).toBeCloseTo((-1.2 + 0.8) / 2, 6);
    expect(r.metrics['clip_ratio/high_mean']).toBeCloseTo(2 / 3, 6);
    expect(r.metrics['clip_ratio/low_mean']).toBeCloseTo(1 / 3, 6);
    expect(r.metrics['ratio/mean']).toBeCloseTo(0.9831632475943927, 6);
    expect(r.grad.flat().every((g) => g === 0)).toBe(true);
  });
});

describe('grpoLoss properties', () => {
  // Deterministic pseudo-random numbers (LCG) so the test pins its inputs.
  function rng(seed: number): () => number {
    let s = seed >>> 0;
    return () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return s / 2 ** 32;
    };
  }
  function randomArrays(seed: number, B: number, T: number): Arrays {
    const r = rng(seed);
    const mat = (f: () => number): number[][] => Array.from({ length: B }, () => Array.from({ length: T }, f));
    const logp = mat(() => -0.1 - 3 * r());
    const old = logp.map((row) => row.map((x) => x + 0.5 * (r() - 0.5))); // ratios in ~[0.78, 1.28]
    const ref = logp.map((row) => row.map((x) => x + (r() - 0.5)));
    const mask = Array.from({ length: B }, () => {
      const len = 1 + Math.floor(r() * T);
      return Array.from({ length: T }, (_, t) => (t < len ? 1 : 0));
    });
    return { logp, old, ref, adv: Array.from({ length: B }, () => 2 * r() - 1), mask };
  }

  const CASES: Partial<GrpoLossConfig>[] = [
    { lossType: 'grpo', beta: 0.04 },
    { lossType: 'bnpo', beta: 0, epsHigh: 0.28 },
    { lossType: 'dr_grpo', beta: 0.1, maxCompletionLength: 9 },
    { lossType: 'grpo', importanceLevel: 'sequence', beta: 0.04, epsLow: 0.1, epsHigh: 0.1 },
  ];

  it.each(CASES)('value and gradient match a double-precision reference and finite differences (%o)', (cfg) => {
    const a = randomArrays(7, 4, 6);
    const full = GrpoLossConfigSchema.parse(cfg);
    const r = run(a, cfg);
    expect(r.loss).toBeCloseTo(refLoss(a, full), 5);
    const h = 1e-6;
    let clippedSeen = 0;
    for (let b = 0; b < 4; b++) {
      for (let t = 0; t < 6; t++) {
        const plus = structuredClone(a);
        const minus = structuredClone(a);
        plus.logp[b]![t]! += h;
        minus.logp[b]![t]! -= h;
        const fd = (refLoss(plus, full) - refLoss(minus, full)) / (2 * h);
        expect(Math.abs(r.grad[b]![t]! - fd)).toBeLessThan(1e-4 + 1e-3 * Math.abs(fd));
        if (fd === 0) clippedSeen++;
      }
    }
    expect(clippedSeen).toBeGreaterThan(0); // masked (and clipped) tokens exercised
  });

  it('at ratio 1 with beta 0 the loss is -A aggregated by each loss type', () => {
    const a = randomArrays(11, 5, 7);
    const same = { ...a, old: a.logp };
    const n = a.mask.map((row) => row.reduce((x, y) => x + y, 0));
    const N = n.reduce((x, y) => x + y, 0);
    const meanA = a.adv.reduce((x, y) => x + y, 0) / 5;
    const tokA = a.adv.reduce((s, A, b) => s + A * n[b]!, 0);
    expect(run(same, { lossType: 'grpo' }).loss).toBeCloseTo(-meanA, 5);
    expect(run(same, { lossType: 'bnpo' }).loss).toBeCloseTo(-tokA / N, 5);
    expect(run(same, { lossType: 'dr_grpo', maxCompletionLength: 10 }).loss).toBeCloseTo(-tokA / 50, 5);
  });

  it('old log-probs are constants even when they are the same tensor (mu = 1)', () => {
    const lp = tf.tensor2d([[-1, -2, -0.5]]);
    const mask = tf.tensor2d([[1, 1, 0]]);
    const grad = tf.grad((x: tf.Tensor) => {
      const out = grpoLoss({ logprobs: x as tf.Tensor2D, oldLogprobs: x as tf.Tensor2D, advantages: [2], mask });
      readGrpoLossMetrics(out.metrics);
      return out.loss;
    })(lp);
    expect(Array.from(grad.dataSync())).toEqual([-1, -1, 0].map((v) => expect.closeTo(v, 6)));
    tf.dispose([lp, mask, grad]);
  });

  it('leaks no tensors once loss and metrics are disposed', () => {
    const t = tensors(HAND);
    const before = tf.memory().numTensors;
    const out = grpoLoss({ ...t, beta: 0 });
    readGrpoLossMetrics(out.metrics);
    out.loss.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([t.logprobs, t.oldLogprobs, t.advantages as tf.Tensor, t.mask]);
  });

  it('rejects mismatched shapes, missing ref and dr_grpo without a length', () => {
    const t = tensors(HAND);
    expect(() => grpoLoss({ ...t, advantages: [1, 2, 3] })).toThrow(/advantages has 3 entries/);
    expect(() => grpoLoss({ ...t, beta: 0.1 })).toThrow(/refLogprobs/);
    expect(() => grpoLoss({ ...t, lossType: 'dr_grpo' })).toThrow(/maxCompletionLength/);
    tf.dispose([t.logprobs, t.oldLogprobs, t.advantages as tf.Tensor, t.mask]);
  });
});
