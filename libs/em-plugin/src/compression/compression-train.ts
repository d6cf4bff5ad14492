import * as tf from '@tensorflow/tfjs-core';
import type { LogitsAdapter } from '@emrl/lm';
import { tokenEntropyLoss, type EntropyPooling } from '../shared/losses';

/**
 * Trains a confidence-compression layer with the token EM loss (arXiv 2505.20282) w.r.t. ONLY the
 * adapter's variables: the model is frozen, so its logits are constants and are never
 * differentiated. Get them from the model WITHOUT the adapter (`model.setLogitsAdapter(null)`
 * before the forward pass), then attach the trained adapter with `model.setLogitsAdapter(adapter)`.
 */

export interface LogitsBatch {
  /** Raw logits of the frozen model, adapter NOT applied [B, T, V]. */
  logits: tf.Tensor3D;
  /** Response-predicting positions [B, T]. */
  lossMask: tf.Tensor2D;
  /** Keep the tensors after the step (e.g. a fixed batch reused every step). Default: they are disposed. */
  keep?: boolean;
}

/** Anything with applyGradients over named gradients: lm's AdamW or a tf.train optimizer. */
export interface GradientApplier {
  applyGradients(grads: tf.NamedTensorMap): void;
}

export interface TrainCompressionOptions {
  adapter: LogitsAdapter;
  logitsSource: (step: number) => LogitsBatch | Promise<LogitsBatch>;
  steps: number;
  /** Learning rate of the default optimizer (tf.train.adam). Default 0.01. */
  lr?: number;
  /** Inject lm's AdamW (`new AdamW({ lr, weightDecay: 0 }, { variables: adapter.variables() })`) or any optimizer. */
  optimizer?: GradientApplier;
  /** Entropy temperature tau. Default 1. */
  temperature?: number;
  pooling?: EntropyPooling;
  lastFraction?: number;
  /** Clip the gradients' global norm (0 or absent = no clipping). */
  maxGradNorm?: number;
  onStep?: (record: CompressionStepRecord) => void;
}

export interface CompressionStepRecord {
  step: number;
  /** EM loss before this step's update. */
  loss: number;
  gradNorm: number;
}

export async function trainCompressionLayer(opts: TrainCompressionOptions): Promise<{ history: CompressionStepRecord[] }> {
  const { adapter, steps } = opts;
  const vars = adapter.variables();
  if (vars.length === 0) throw new Error(`em-plugin compression-train.ts: adapter "${adapter.name}" has no variables to train`);
  if (!Number.isInteger(steps) || steps < 0) throw new Error(`em-plugin compression-train.ts: steps must be an integer >= 0, got ${steps}`);
  const ownOptimizer = opts.optimizer ? null : tf.train.adam(opts.lr ?? 0.01);
  // tf.train optimizers take named-tensor lists; lm's AdamW takes the map directly.
  const optimizer: GradientApplier = opts.optimizer ?? {
    applyGradients: (grads) => ownOptimizer!.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor }))),
  };
  const history: CompressionStepRecord[] = [];
  try {
    for (let step = 0; step < steps; step++) {
      const batch = await opts.logitsSource(step);
      try {
        const { value, grads } = tf.variableGrads(
          () =>
            tokenEntropyLoss({
              logits: adapter.apply(batch.logits),
              lossMask: batch.lossMask,
              temperature: opts.temperature ?? 1,
              pooling: opts.pooling,
              lastFraction: opts.lastFraction,
            }),
          vars,
        );
        const gradNorm = tf.tidy(() => Math.sqrt(Object.values(grads).reduce((acc, g) => acc + tf.sum(tf.square(g)).dataSync()[0]!, 0)));
        let applied = grads;
        if (opts.maxGradNorm && gradNorm > opts.maxGradNorm) {
          const factor = opts.maxGradNorm / gradNorm;
          applied = Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, tf.mul(g, factor)]));
        }
        optimizer.applyGradients(applied);
        const record = { step, loss: value.dataSync()[0]!, gradNorm };
        tf.dispose([value, ...Object.values(grads), ...(applied === grads ? [] : Object.values(applied))]);
        history.push(record);
        opts.onStep?.(record);
      } finally {
        if (!batch.keep) tf.dispose([batch.logits, batch.lossMask]);
      }
    }
  } finally {
    ownOptimizer?.dispose();
  }
  return { history };
}
