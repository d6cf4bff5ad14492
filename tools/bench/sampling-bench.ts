import { createRng, kthLargest, sampleToken } from '@emrl/lm';
import { median } from './stats';

export interface SamplingResult {
  vocab: number;
  topK: number;
  selectMs: number; // the top-k threshold by kthLargest (quickselect)
  sortMs: number; // the same threshold by a full sort (what sampleToken did before), same run
  speedup: number; // sortMs / selectMs
  sampleTokenMs: number; // a whole top-k sampleToken call (threshold + softmax + draw)
}

/** Wall time of the top-k threshold (quickselect vs full sort) and of a whole top-k sampleToken call. */
export function benchSampling(vocabs: number[], topK: number, reps: number): SamplingResult[] {
  return vocabs.map((vocab) => {
    const rng = createRng(1);
    const row = Float32Array.from({ length: vocab }, () => rng.nextNormal() * 3);
    const tokens = Math.max(5, Math.round(2_000_000 / vocab));
    const time = (fn: () => void): number =>
      median(
        Array.from({ length: reps }, () => {
          const t0 = performance.now();
          for (let i = 0; i < tokens; i++) fn();
          return (performance.now() - t0) / tokens;
        }),
      );
    let sink = 0;
    const select = time(() => (sink += kthLargest(row, topK)));
    const sorted = time(() => (sink += Float64Array.from(row).sort()[vocab - topK]!));
    const whole = time(() => (sink += sampleToken(row, { temperature: 1, topK, topP: 1 }, rng).token));
    if (sink === -1) console.log(sink); // keep the work observable
    return { vocab, topK, selectMs: select, sortMs: sorted, speedup: sorted / select, sampleTokenMs: whole };
  });
}
