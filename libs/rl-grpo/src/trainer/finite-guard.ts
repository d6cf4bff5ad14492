import * as tf from '@tensorflow/tfjs-core';

/**
 * A training step produced a non-finite loss, gradient norm or weight. Raised BEFORE the step's
 * checkpoint, so nothing non-finite is written and the stage's latest.json keeps pointing at the
 * last good checkpoint; the run fails and can be resumed from there (e.g. with a lower lr).
 */
export class NonFiniteError extends Error {
  constructor(
    readonly stage: string,
    /** 0-based step that went wrong (the message says step + 1, as progress lines do). */
    readonly step: number,
    readonly what: string,
    readonly value: number,
  ) {
    super(
      `stage "${stage}": ${what} is ${value} at step ${step + 1}; the step was not saved, so the last checkpoint before it is intact. ` +
        `Lower the learning rate (or check the model and data), then continue with: emrl resume <run-dir> --set ${stage}.lr=<smaller>`,
    );
    this.name = 'NonFiniteError';
  }
}

/** Throws NonFiniteError unless `value` is finite. */
export function assertFinite(stage: string, step: number, what: string, value: number): void {
  if (!Number.isFinite(value)) throw new NonFiniteError(stage, step, what, value);
}

/** How many entries of the variables are NaN or +-Inf (one device sync for all of them). */
export function countNonFinite(variables: readonly tf.Variable[]): number {
  if (variables.length === 0) return 0;
  return tf.tidy(() => {
    const counts = variables.map((v) => tf.sum(tf.cast(tf.logicalNot(tf.isFinite(v)), 'int32')));
    return tf.addN(counts).dataSync()[0]!;
  });
}
