import { describe, expect, it } from 'vitest';
import { extrapolate, linearFit } from './real-size-bench';

describe('real-size extrapolation', () => {
  it('least squares recovers an exact line and matches the closed form on noisy points', () => {
    const exact = linearFit([1, 2, 4], [5, 7, 11]); // y = 3 + 2x
    expect(exact.a).toBeCloseTo(3, 12);
    expect(exact.b).toBeCloseTo(2, 12);
    // (0,0), (1,1), (2,1): mean x 1, mean y 2/3, Sxy = 1, Sxx = 2 -> b = 1/2, a = 2/3 - 1/2 = 1/6
    const noisy = linearFit([0, 1, 2], [0, 1, 1]);
    expect(noisy.b).toBeCloseTo(0.5, 12);
    expect(noisy.a).toBeCloseTo(1 / 6, 12);
    expect(() => linearFit([1], [1])).toThrow(/>= 2 points/);
    expect(() => linearFit([2, 2], [1, 3])).toThrow(/distinct/);
  });

  it('extrapolates per-token time and memory linearly in the layer count', () => {
    // per-token forward ms = 2 + 1 * layers; decode ms/token = 10 + 5 * layers; memory 1000 + 100 * layers
    const run = (l: number) => ({ layers: l, forwardTps: 1000 / (2 + l), decodeTps: { b1: 1000 / (10 + 5 * l) }, loraStepMs: 50 + 20 * l, peakRss: 1000 + 100 * l, wasmHeap: 500 + 100 * l });
    const x = extrapolate([run(1), run(2), run(4)], 24);
    expect(x.forwardTps).toBeCloseTo(1000 / 26, 9);
    expect(x.decodeTps['b1']).toBeCloseTo(1000 / 130, 9);
    expect(x.loraStepMs).toBeCloseTo(530, 9);
    expect(x.peakRss).toBeCloseTo(3400, 9);
    expect(x.wasmHeap).toBeCloseTo(2900, 9);
    expect(extrapolate([{ ...run(1), wasmHeap: null }, run(2)], 24).wasmHeap).toBeNull();
  });
});
