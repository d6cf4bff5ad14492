/** What went wrong with a checkpoint file; tests and callers branch on `code`, people read `message`. */
export type CheckpointErrorCode =
  | 'missing-file'
  | 'truncated'
  | 'malformed-header'
  | 'offsets-out-of-range'
  | 'overlapping-offsets'
  | 'size-mismatch'
  | 'unsupported-dtype'
  | 'bad-index'
  | 'bad-tensor'
  | 'non-finite'
  | 'dtype-mismatch';

/** A checkpoint problem, naming the file and (when known) the tensor. */
export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
  constructor(
    readonly code: CheckpointErrorCode,
    readonly file: string,
    detail: string,
    readonly tensor?: string,
  ) {
    super(`${file}${tensor === undefined ? '' : ` (tensor "${tensor}")`}: ${detail}`);
  }
}
