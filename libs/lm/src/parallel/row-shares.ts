import type { PackedArrays } from '../ops/pack-batch';

/**
 * Contiguous, near-equal [start, end) shares of `rows` rows among at most `parts` threads (none
 * empty; the first share goes to the calling thread). One share when there is one row or one part.
 */
export function rowShares(rows: number, parts: number): [number, number][] {
  const n = Math.max(1, Math.min(parts, rows));
  const out: [number, number][] = [];
  for (let k = 0; k < n; k++) out.push([Math.floor((k * rows) / n), Math.floor(((k + 1) * rows) / n)]);
  return out;
}

/** Rows [start, end) of a packed batch as a new PackedArrays (same T and prompt length). */
export function slicePackedRows(a: PackedArrays, start: number, end: number): PackedArrays {
  const T = a.seqLen;
  return {
    ...a,
    batchSize: end - start,
    inputIds: a.inputIds.slice(start * T, end * T),
    attentionMask: a.attentionMask.slice(start * T, end * T),
    targets: a.targets.slice(start * T, end * T),
    lossMask: a.lossMask.slice(start * T, end * T),
    promptLengths: a.promptLengths.slice(start, end),
    responseLengths: a.responseLengths.slice(start, end),
  };
}
