import * as tf from '@tensorflow/tfjs-core';
import { AdamW } from '../optim/adamw';
import { clipGlobalNorm } from '../optim/clip';
import { toPackedBatch } from '../ops/pack-batch';
import type { OptimizerConfig, OptimizerConfigInput } from '../optim/config';
import { packTrainBatch, tokenStreamSource, type BatchSource, type TokenStreamSource } from './batch-source';
import { crossEntropyLoss } from './cross-entropy';

/** The part of CausalLM (docs/ARCHITECTURE.md) the trainer needs. */
export interface TrainableLM {
  forward(inputIds: tf.Tensor2D, opts?: { attentionMask?: tf.Tensor2D }): tf.Tensor3D; // [B, T] -> [B, T, V]
  trainableVariables(): tf.Variable[];
  /** Parameters by Hugging Face name; when present the optimizer state is saved under these names. */
  weights?: Map<string, tf.Variable>;
}

export interface TrainStepInfo {
  step: number; // 0-based index of the step just taken
  loss: number; // mean masked cross-entropy (nats/token) before the update
  lr: number;
  gradNorm: number; // global norm before clipping
  tokens: number; // loss tokens in the batch
  tokensPerSec: number; // loss tokens / wall time of this step
  elapsedMs: number; // since training started
}

export interface TrainCausalLMOptions {
  /** Batches per step, or a token stream sampled as random windows. */
  data: BatchSource | TokenStreamSource;
  batchSize: number;
  steps: number;
  optimizer: OptimizerConfigInput | OptimizerConfig;
  padId: number;
  /** Also train on prompt tokens of prompt/response batches (docs always train on every token). Default false. */
  lossOnPrompt?: boolean;
  /** Resume with this optimizer (its `iterations` continue the schedule); the caller keeps ownership. */
  optimizerInstance?: AdamW;
  /** 0-based step to start from (for resuming); default optimizerInstance?.iterations ?? 0. */
  startStep?: number;
  evalEvery?: number; // 0 / undefined = never
  onEval?: (step: number) => void | Promise<void>; // called after step `step` when (step + 1) % evalEvery === 0
  onStep?: (info: TrainStepInfo) => void | Promise<void>;
  signal?: AbortSignal;
}

export interface TrainResult {
  stepsDone: number; // steps taken in this call
  lastStep: number; // 0-based index of the last step taken, -1 if none
  losses: number[];
  aborted: boolean;
}

function check(cond: boolean, field: string, msg: string): void {
  if (!cond) throw new Error(`train/train-causal-lm.ts: ${field} ${msg}`);
}

/**
 * Next-token cross-entropy training with AdamW (used to build the embedded base model).
 * Each step: pack -> forward -> masked CE -> grads -> clip -> AdamW, all inside one tf.tidy.
 * Yields to the event loop between steps so `signal` can stop it after the current step.
 */
export async function trainCausalLM(model: TrainableLM, opts: TrainCausalLMOptions): Promise<TrainResult> {
  check(Number.isInteger(opts.batchSize) && opts.batchSize >= 1, 'batchSize', `must be an integer >= 1, got ${opts.batchSize}`);
  check(Number.isInteger(opts.steps) && opts.steps >= 0, 'steps', `must be an integer >= 0, got ${opts.steps}`);
  const vars = model.trainableVariables();
  check(vars.length > 0, 'model', 'has no trainable variables');
  const source: BatchSource = typeof opts.data === 'function' ? opts.data : tokenStreamSource(opts.data);
  const names = new Map<string, tf.Variable>(model.weights ?? []);
  const listed = new Set(names.values());
  for (const v of vars) if (!listed.has(v)) names.set(v.name, v); // e.g. logits-adapter variables
  const optimizer = opts.optimizerInstance ?? new AdamW(opts.optimizer, { variables: names });
  const ownsOptimizer = !opts.optimizerInstance;
  const startStep = opts.startStep ?? optimizer.iterations;
  const lossOnPrompt = opts.lossOnPrompt ?? false;
  const t0 = performance.now();
  const losses: number[] = [];
  let aborted = false;
  let lastStep = -1;
  try {
    for (let step = startStep; step < startStep + opts.steps; step++) {
      if (opts.signal?.aborted) {
        aborted = true;
        break;
      }
      const ts = performance.now();
      const packed = packTrainBatch(source(step, opts.batchSize), opts.padId, lossOnPrompt);
      const lr = optimizer.currentLr();
      const tokens = packed.lossMask.reduce((a, v) => a + v, 0);
      const { loss, gradNorm } = tf.tidy(() => {
        const { inputIds, attentionMask, targets, lossMask } = toPackedBatch(packed);
        const { value, grads } = tf.variableGrads(
          () => crossEntropyLoss(model.forward(inputIds, { attentionMask }), targets, lossMask),
          vars,
        );
        const clipped = clipGlobalNorm(grads, optimizer.config.gradClip);
        optimizer.applyGradients(clipped.grads, lr);
        return { loss: value.dataSync()[0]!, gradNorm: clipped.norm };
      });
      losses.push(loss);
      lastStep = step;
      const now = performance.now();
      await opts.onStep?.({
        step,
        loss,
        lr,
        gradNorm,
        tokens,
        tokensPerSec: tokens / Math.max(1e-3, (now - ts) / 1000),
        elapsedMs: now - t0,
      });
      if (opts.evalEvery && opts.onEval && (step + 1) % opts.evalEvery === 0) await opts.onEval(step);
      await new Promise<void>((resolve) => setImmediate(resolve)); // let abort handlers run
    }
  } finally {
    if (ownsOptimizer) optimizer.dispose();
  }
  return { stepsDone: losses.length, lastStep, losses, aborted };
}
