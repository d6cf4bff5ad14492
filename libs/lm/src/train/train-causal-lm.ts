import * as tf from '@tensorflow/tfjs-core';
import { AdamW } from '../optim/adamw';
import { clipGlobalNorm } from '../optim/clip';
import type { OptimizerConfig, OptimizerConfigInput } from '../optim/config';
import { packTrainBatch, tokenStreamSource, type BatchSource, type TokenStreamSource, type TrainBatch } from './batch-source';
import { currentBackend } from '../backend';
import type { ModelConfig } from '../config';
import { GradientWorkers } from './data-parallel/gradient-workers';
import { combineShardGradients, shardGradients, splitRows } from './data-parallel/shard-gradients';

/** The part of CausalLM (docs/ARCHITECTURE.md) the trainer needs. */
export interface TrainableLM {
  forward(inputIds: tf.Tensor2D, opts?: { attentionMask?: tf.Tensor2D }): tf.Tensor3D; // [B, T] -> [B, T, V]
  trainableVariables(): tf.Variable[];
  /** Parameters by Hugging Face name; when present the optimizer state is saved under these names. */
  weights?: Map<string, tf.Variable>;
  /** trainableVariables() by stable name (CausalLM: HF names, or PEFT names with LoRA); preferred over `weights`. */
  namedTrainableVariables?(): Map<string, tf.Variable>;
  /** A CausalLM's LoRA adapter, if attached (data-parallel workers do not replicate it). */
  getLora?(): unknown;
  /** Architecture; needed (a CausalLM has it) when training with `workers` > 1, to build the replicas. */
  config?: ModelConfig;
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
  /**
   * Data-parallel threads, this one included (default 1). With n > 1 each step's rows are split
   * into n shards; n - 1 worker threads compute their shards' gradients beside this thread, and the
   * token-weighted average equals the full-batch gradient (up to float summation order), so a
   * run is deterministic for a given n. Worth it when the machine has idle cores (wasm/cpu).
   */
  workers?: number;
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
  const names = new Map<string, tf.Variable>(model.namedTrainableVariables?.() ?? model.weights ?? []);
  const listed = new Set(names.values());
  for (const v of vars) if (!listed.has(v)) names.set(v.name, v); // e.g. logits-adapter variables
  const optimizer = opts.optimizerInstance ?? new AdamW(opts.optimizer, { variables: names });
  const ownsOptimizer = !opts.optimizerInstance;
  const startStep = opts.startStep ?? optimizer.iterations;
  const lossOnPrompt = opts.lossOnPrompt ?? false;
  const workers = opts.workers ?? 1;
  check(Number.isInteger(workers) && workers >= 1, 'workers', `must be an integer >= 1, got ${workers}`);
  if (workers > 1) {
    check(model.config !== undefined, 'workers', '> 1 needs a model with a config (a CausalLM) to build the worker replicas');
    check(!model.getLora?.(), 'workers', '> 1 does not replicate a LoRA adapter to the workers yet; train LoRA with workers: 1');
    check(currentBackend() !== null, 'workers', '> 1 needs initBackend() to have run (the workers use the same backend)');
  }
  let pool: GradientWorkers | null = null;
  const t0 = performance.now();
  const losses: number[] = [];
  let aborted = false;
  let lastStep = -1;
  try {
    if (workers > 1) pool = await GradientWorkers.start(workers - 1, model.config!, currentBackend()!.name, vars.map((v) => v.size));
    for (let step = startStep; step < startStep + opts.steps; step++) {
      if (opts.signal?.aborted) {
        aborted = true;
        break;
      }
      const ts = performance.now();
      const batch = source(step, opts.batchSize);
      const lr = optimizer.currentLr();
      const { loss, gradNorm, tokens } = await trainStep(pool, model, vars, batch, opts.padId, lossOnPrompt, optimizer, lr);
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
    await pool?.close();
  }
  return { stepsDone: losses.length, lastStep, losses, aborted };
}

interface StepOutcome {
  loss: number;
  gradNorm: number;
  tokens: number;
}

/**
 * One step: shard 0 on this thread, the others (if any workers) on the workers at the same time;
 * token-weighted average of the shard gradients, clip, one AdamW update.
 */
async function trainStep(
  pool: GradientWorkers | null,
  model: TrainableLM,
  vars: tf.Variable[],
  batch: TrainBatch,
  padId: number,
  lossOnPrompt: boolean,
  optimizer: AdamW,
  lr: number,
): Promise<StepOutcome> {
  const shards = splitBatch(batch, (pool?.size ?? 0) + 1).map((b) => packTrainBatch(b, padId, lossOnPrompt));
  // Workers start now and run in parallel with shard 0 below.
  const remote = pool && shards.length > 1 ? pool.compute(vars.map((v) => v.dataSync() as Float32Array), shards.slice(1)) : Promise.resolve([]);
  const local = shardGradients(model, vars, shards[0]!);
  let results: { loss: number; tokens: number; grads: tf.Tensor[] }[] = [local];
  try {
    const others = await remote;
    results = [local, ...others.map((r) => ({ loss: r.loss, tokens: r.tokens, grads: r.grads.map((g, i) => tf.tensor(g, vars[i]!.shape, 'float32')) }))];
    const tokens = results.reduce((a, r) => a + r.tokens, 0);
    const loss = results.reduce((a, r) => a + r.loss * r.tokens, 0) / Math.max(1, tokens);
    const gradNorm = tf.tidy(() => {
      // One shard (workers = 1, the common case): its gradients are the batch's, no averaging ops.
      const combined = results.length === 1 && local.tokens > 0 ? local.grads : combineShardGradients(results, vars.length);
      const clipped = clipGlobalNorm(Object.fromEntries(vars.map((v, i) => [v.name, combined[i]!])), optimizer.config.gradClip);
      optimizer.applyGradients(clipped.grads, lr);
      return clipped.norm;
    });
    return { loss, gradNorm, tokens };
  } finally {
    for (const r of results) tf.dispose(r.grads);
  }
}

function splitBatch(batch: TrainBatch, parts: number): TrainBatch[] {
  if ('docs' in batch) return splitRows(batch.docs, parts).map((docs) => ({ docs }));
  const rows = batch.prompts.map((p, i) => ({ p, r: batch.responses[i]! }));
  return splitRows(rows, parts).map((rs) => ({ prompts: rs.map((x) => x.p), responses: rs.map((x) => x.r) }));
}
