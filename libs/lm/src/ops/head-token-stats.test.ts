import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../generation/rng';
import { setupTestBackend } from '../testing';
import { chunkRowsFor, headTokenStats, type HeadWeight } from './head-token-stats';
import { tokenLogProbsAndEntropy } from './token-stats';

beforeAll(async () => {
  await setupTestBackend();
});

const N = 11; // 3 chunks of 4 rows: the last one ragged (3 rows)
const D = 6;
const V = 13;
const r = seededRandom(11);
const rand = (n: number, scale: number): number[] => Array.from({ length: n }, () => (r() - 0.5) * 2 * scale);
const hiddenArr = rand(N * D, 1.5);
const headArr = rand(D * V, 1.2); // [D, V]
const targetArr = Array.from({ length: N }, () => Math.floor(r() * V));
// Upstream weights of the loss L = sum_k sum_n (a_kn logProb_kn + b_kn entropy_kn).
const TAUS = [1, 0.5, 1.7];
const coefArr = rand(2 * TAUS.length * N, 1);

/** The head in either stored layout: [D, V], or its transpose [V, D] as a tied embedding is stored. */
function makeHead(transposed: boolean): HeadWeight {
  const w = tf.tensor2d(headArr, [D, V]);
  if (!transposed) return { weight: w, transposed };
  const t = tf.transpose(w) as tf.Tensor2D;
  w.dispose();
  return { weight: t, transposed };
}

/** The same statistics through whole [N, V] logits (token-stats.ts, the plain path). */
function plainStats(h: tf.Tensor2D, head: HeadWeight, targets: tf.Tensor1D): tf.Tensor1D[] {
  const logits = tf.reshape(tf.matMul(h, head.weight, false, head.transposed), [1, N, V]) as tf.Tensor3D;
  const t2 = tf.reshape(targets, [1, N]) as tf.Tensor2D;
  return TAUS.flatMap((tau) => {
    const s = tokenLogProbsAndEntropy(logits, t2, tau);
    return [tf.reshape(s.logProbs, [N]) as tf.Tensor1D, tf.reshape(s.entropy, [N]) as tf.Tensor1D];
  });
}

function chunkedStats(h: tf.Tensor2D, head: HeadWeight, targets: tf.Tensor1D, chunkRows: number): tf.Tensor1D[] {
  return headTokenStats(h, head, targets, TAUS, { chunkRows }).flatMap((s) => [s.logProb, s.entropy]);
}

/** Scalar loss sum_k coef_k . stat_k, its value and gradients w.r.t. hidden and the head weight. */
function lossAndGrads(stats: (h: tf.Tensor2D, w: tf.Tensor2D) => tf.Tensor1D[], transposed: boolean) {
  return tf.tidy(() => {
    const head = makeHead(transposed);
    const h = tf.tensor2d(hiddenArr, [N, D]);
    const coefs = tf.tensor2d(coefArr, [2 * TAUS.length, N]);
    const f = (hh: tf.Tensor, ww: tf.Tensor): tf.Scalar => {
      const s = tf.stack(stats(hh as tf.Tensor2D, ww as tf.Tensor2D)); // [2K, N]
      return tf.sum(tf.mul(s, coefs)) as tf.Scalar;
    };
    const { value, grads } = tf.valueAndGrads(f)([h, head.weight]);
    const values = stats(h, head.weight).map((t) => Array.from(t.dataSync()));
    return { loss: value.dataSync()[0]!, dh: Array.from(grads[0]!.dataSync()), dw: Array.from(grads[1]!.dataSync()), values };
  });
}

function expectClose(a: number[], b: number[], tol: number): void {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
  expect(worst).toBeLessThan(tol);
}

describe('headTokenStats: chunked equals whole-logits log-softmax', () => {
  for (const transposed of [false, true]) {
    for (const chunkRows of [4, 1, N, 64]) {
      it(`values and gradients (hidden, head) agree to 1e-5; head ${transposed ? '[V, D] (tied)' : '[D, V]'}, chunkRows ${chunkRows}`, () => {
        const targets = tf.tensor1d(targetArr, 'int32');
        const plain = lossAndGrads((h, w) => plainStats(h, { weight: w, transposed }, targets), transposed);
        const chunked = lossAndGrads((h, w) => chunkedStats(h, { weight: w, transposed }, targets, chunkRows), transposed);
        targets.dispose();
        for (let i = 0; i < plain.values.length; i++) expectClose(chunked.values[i]!, plain.values[i]!, 1e-5);
        expectClose([chunked.loss], [plain.loss], 1e-5);
        expectClose(chunked.dh, plain.dh, 1e-5);
        expectClose(chunked.dw, plain.dw, 1e-5);
        // The gradients are not trivially zero.
        expect(Math.max(...chunked.dw.map(Math.abs))).toBeGreaterThan(1e-2);
      });
    }
  }

  it('gradients match central finite differences (float32, a few coordinates)', () => {
    const targets = tf.tensor1d(targetArr, 'int32');
    const lossAt = (hArr: number[], wArr: number[]): number =>
      tf.tidy(() => {
        const s = chunkedStats(tf.tensor2d(hArr, [N, D]), { weight: tf.tensor2d(wArr, [D, V]), transposed: false }, targets, 4);
        return tf.sum(tf.mul(tf.stack(s), tf.tensor2d(coefArr, [2 * TAUS.length, N]))).dataSync()[0]!;
      });
    const g = lossAndGrads((h, w) => chunkedStats(h, { weight: w, transposed: false }, targets, 4), false);
    const eps = 1e-2;
    for (const i of [0, 7, 23, 40, N * D - 1]) {
      const up = [...hiddenArr];
      const down = [...hiddenArr];
      up[i]! += eps;
      down[i]! -= eps;
      const fd = (lossAt(up, headArr) - lossAt(down, headArr)) / (2 * eps);
      expect(Math.abs(fd - g.dh[i]!)).toBeLessThan(2e-2 * Math.max(1, Math.abs(fd)));
    }
    for (const i of [0, 5, 31, 50, D * V - 1]) {
      const up = [...headArr];
      const down = [...headArr];
      up[i]! += eps;
      down[i]! -= eps;
      const fd = (lossAt(hiddenArr, up) - lossAt(hiddenArr, down)) / (2 * eps);
      expect(Math.abs(fd - g.dw[i]!)).toBeLessThan(2e-2 * Math.max(1, Math.abs(fd)));
    }
    targets.dispose();
  });

  it('without the head gradient: d/d hidden unchanged, the head gets none', () => {
    const targets = tf.tensor1d(targetArr, 'int32');
    const both = lossAndGrads((h, w) => chunkedStats(h, { weight: w, transposed: false }, targets, 4), false);
    const dh = tf.tidy(() => {
      const head = makeHead(false);
      const coefs = tf.tensor2d(coefArr, [2 * TAUS.length, N]);
      const f = (hh: tf.Tensor): tf.Scalar => {
        const s = headTokenStats(hh as tf.Tensor2D, head, targets, TAUS, { chunkRows: 4, headGrad: false }).flatMap((x) => [x.logProb, x.entropy]);
        return tf.sum(tf.mul(tf.stack(s), coefs)) as tf.Scalar;
      };
      return Array.from(tf.grad(f)(tf.tensor2d(hiddenArr, [N, D])).dataSync());
    });
    targets.dispose();
    expectClose(dh, both.dh, 1e-6);
  });

  it('leaves no tensors behind over repeated forward + backward passes', () => {
    const head = makeHead(true);
    const targets = tf.tensor1d(targetArr, 'int32');
    const h = tf.tensor2d(hiddenArr, [N, D]);
    const counts: number[] = [];
    for (let i = 0; i < 4; i++) {
      const { value, grads } = tf.valueAndGrads((hh: tf.Tensor, ww: tf.Tensor) => tf.sum(tf.stack(chunkedStats(hh as tf.Tensor2D, { weight: ww as tf.Tensor2D, transposed: true }, targets, 4))) as tf.Scalar)([h, head.weight]);
      tf.dispose([value, ...grads]);
      counts.push(tf.memory().numTensors);
    }
    expect(new Set(counts).size, counts.join(',')).toBe(1);
    tf.dispose([head.weight, targets, h]);
  });

  it('chunkRowsFor: rows per budget, at least one; bad input is refused', () => {
    expect(chunkRowsFor(151936)).toBe(55);
    expect(chunkRowsFor(1000, 4000 * 7 + 3)).toBe(7);
    expect(chunkRowsFor(10 ** 9, 1)).toBe(1);
    expect(() => chunkRowsFor(10, 0)).toThrow(/budget/);
    const head = makeHead(false);
    const h = tf.zeros([N, D + 1]) as tf.Tensor2D;
    const t = tf.zeros([N], 'int32') as tf.Tensor1D;
    expect(() => headTokenStats(h, head, t, [1], { chunkRows: 2 })).toThrow(/head weight/);
    tf.dispose([h, head.weight, t]);
  });
});
