import * as tf from '@tensorflow/tfjs-core';
import { slicePackedRows, type PackedArrays } from '@emrl/lm';
import type { TrainBatch } from './sampler';

/** One micro-batch: rows [start, end) of the step's batch. */
export interface MicroBatch {
  start: number;
  end: number;
  arrays: PackedArrays;
  /** Loss tokens in this micro-batch and in the whole step (for token-share weights). */
  tokens: number;
  totalTokens: number;
  /** Rows of the whole step (for row-share weights). */
  totalRows: number;
  /** The frozen logits of these rows [b, T, V] (a slice the caller disposes, or the batch's own). */
  frozenLogits?: tf.Tensor3D;
}

function sum(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i]!;
  return s;
}

/**
 * Splits a step's batch into `count` micro-batches of whole groups (TRL's gradient accumulation:
 * each holds ceil(groups / count) groups). One micro-batch reuses the batch's arrays as they are.
 */
export function splitMicroBatches(batch: TrainBatch, count: number): MicroBatch[] {
  const { packed, groupSize } = batch;
  const B = packed.batchSize;
  const totalTokens = sum(packed.lossMask);
  if (count <= 1) return [{ start: 0, end: B, arrays: packed, tokens: totalTokens, totalTokens, totalRows: B, frozenLogits: batch.frozenLogits }];
  const groupsPerMicro = Math.max(1, Math.ceil(B / groupSize / count));
  const out: MicroBatch[] = [];
  for (let s = 0; s < B; s += groupsPerMicro * groupSize) {
    const e = Math.min(B, s + groupsPerMicro * groupSize);
    const arrays = slicePackedRows(packed, s, e);
    const frozenLogits = batch.frozenLogits ? (tf.slice(batch.frozenLogits, [s, 0, 0], [e - s, -1, -1]) as tf.Tensor3D) : undefined;
    out.push({ start: s, end: e, arrays, tokens: sum(arrays.lossMask), totalTokens, totalRows: B, frozenLogits });
  }
  return out;
}

/** Disposes the frozen-logits slices that splitMicroBatches made (never the batch's own tensor). */
export function releaseMicroBatches(parts: readonly MicroBatch[], batch: TrainBatch): void {
  for (const p of parts) if (p.frozenLogits && p.frozenLogits !== batch.frozenLogits) p.frozenLogits.dispose();
}

/** Share of a micro-batch in a full-batch mean over tokens or over rows. */
export function microBatchWeight(part: MicroBatch, normalizer: 'tokens' | 'sequences'): number {
  if (normalizer === 'sequences') return (part.end - part.start) / part.totalRows;
  return part.tokens / Math.max(1, part.totalTokens);
}
