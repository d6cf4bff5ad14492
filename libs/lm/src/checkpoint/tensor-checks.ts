// Content checks run on tensors as they are read from a checkpoint, so a corrupt or diverged file is
// refused on load (naming the file and tensor) instead of evaluating to garbage later.
import { CheckpointError } from './errors';

/** Float dtypes a model or optimizer tensor may have in a file. */
const FLOAT_DTYPES = new Set(['F64', 'F32', 'F16', 'BF16']);

export interface NonFiniteSummary {
  count: number;
  /** Flat index and value of the first non-finite element. */
  firstIndex: number;
  firstValue: number;
}

/** Non-finite elements (NaN, +-Inf) of `data` in one pass, or null when every value is finite. */
export function findNonFinite(data: Float32Array): NonFiniteSummary | null {
  let count = 0;
  let firstIndex = -1;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    // v - v is 0 for every finite v and NaN for NaN and +-Inf: one subtraction, no branch on the common path.
    if (v - v !== 0) {
      if (count === 0) firstIndex = i;
      count++;
    }
  }
  return count === 0 ? null : { count, firstIndex, firstValue: data[firstIndex]! };
}

/** `[i, j, k]` position of a flat row-major index in `shape`. */
export function unflattenIndex(index: number, shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length).fill(0);
  let rest = index;
  for (let d = shape.length - 1; d >= 0; d--) {
    const n = shape[d]!;
    out[d] = n === 0 ? 0 : rest % n;
    rest = n === 0 ? 0 : Math.floor(rest / n);
  }
  return out;
}

/** Refuses a float tensor holding NaN or +-Inf (a diverged run or a corrupt file). */
export function assertFiniteTensor(data: Float32Array, shape: readonly number[], file: string, tensor: string): void {
  const bad = findNonFinite(data);
  if (!bad) return;
  const at = unflattenIndex(bad.firstIndex, shape);
  throw new CheckpointError(
    'non-finite',
    file,
    `${bad.count} of ${data.length} values are not finite (first: ${bad.firstValue} at [${at.join(', ')}]); ` +
      'the file is corrupt or was saved by a diverged run: use an earlier checkpoint (after lowering the learning rate)',
    tensor,
  );
}

/**
 * Refuses an integer dtype where only floats make sense (model weights, optimizer moments): F32
 * data labelled I32 has the right byte length, so only the dtype can tell.
 */
export function assertFloatDtype(dtype: string, file: string, tensor: string): void {
  if (FLOAT_DTYPES.has(dtype)) return;
  throw new CheckpointError(
    'dtype-mismatch',
    file,
    `dtype ${dtype} in a file of float tensors (model weights / optimizer state are F32, F16, BF16 or F64); ` +
      'the header labels the data with the wrong dtype: re-export the checkpoint',
    tensor,
  );
}
