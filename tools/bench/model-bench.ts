import * as tf from '@tensorflow/tfjs-core';
import { CausalLM, defineModelConfig, generate, type ModelConfig } from '@emrl/lm';
import { cpuMs, median } from './stats';

export interface TrainShape {
  name: string;
  layers: number;
  width: number;
  heads: number;
  batch: number;
  seq: number;
}

export const VOCAB = 258;

export function trainShapes(quick: boolean): TrainShape[] {
  return [
    { name: 'train-a', layers: 2, width: 96, heads: 4, batch: 64, seq: 51 },
    { name: 'train-b', layers: 8, width: 512, heads: 8, batch: quick ? 1 : 2, seq: 256 },
  ];
}

function configOf(s: TrainShape): ModelConfig {
  return defineModelConfig({ family: 'gpt2', vocabSize: VOCAB, hiddenSize: s.width, numLayers: s.layers, numHeads: s.heads, maxPositions: Math.max(64, s.seq), padTokenId: 0 });
}

/**
 * Training FLOPs per token, forward + backward = 3x forward:
 *   6 * (12 L D^2 + V D)   weight matmuls (qkv 3D^2, proj D^2, MLP 8D^2 per layer; tied head V D)
 * + 12 L T D               attention scores and weighted sum (2 * 2 T D per layer forward, full T x T)
 */
export function trainFlopsPerToken(s: TrainShape): number {
  const { layers: l, width: d, seq: t } = s;
  return 6 * (12 * l * d * d + VOCAB * d) + 12 * l * t * d;
}

export interface TrainResult {
  name: string;
  shape: string;
  ms: number;
  tokensPerS: number;
  gflops: number;
}

/** Median CPU time of one forward + backward (next-token cross-entropy, grads of all weights). */
export function benchTrain(s: TrainShape, reps: number): TrainResult {
  const model = CausalLM.init(configOf(s), 0);
  const ids = tf.randomUniform([s.batch, s.seq], 0, VOCAB, 'int32', 1) as tf.Tensor2D;
  const targets = tf.randomUniform([s.batch * s.seq], 0, VOCAB, 'int32', 2) as tf.Tensor1D;
  const step = (): void => {
    const { value, grads } = tf.variableGrads(() => {
      const logits = tf.reshape(model.forward(ids), [s.batch * s.seq, VOCAB]);
      const lsm = tf.logSoftmax(logits);
      return tf.neg(tf.mean(tf.sum(tf.mul(lsm, tf.oneHot(targets, VOCAB)), -1))) as tf.Scalar;
    }, model.trainableVariables());
    value.dataSync();
    tf.dispose([value, ...Object.values(grads)]);
  };
  try {
    step();
    const times: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = process.cpuUsage();
      step();
      times.push(cpuMs(t0));
    }
    const ms = median(times);
    const tokens = s.batch * s.seq;
    return {
      name: s.name,
      shape: `${s.layers}L x ${s.width}, ${s.heads} heads, batch ${s.batch} x ${s.seq}`,
      ms,
      tokensPerS: (tokens * 1000) / ms,
      gflops: (trainFlopsPerToken(s) * tokens) / ms / 1e6,
    };
  } finally {
    tf.dispose([ids, targets]);
    model.dispose();
  }
}

export interface GenResult {
  name: string;
  batch: number;
  ms: number;
  tokensPerS: number;
  /** tfjs kernel dispatches (engine.runKernel calls) per decoding step, prefill excluded; cached runs only. */
  dispatchesPerStep: number | null;
  /** Fused decoding (in-place cache, fused kernels) on; false = plain tfjs ops. */
  fused: boolean;
}

export const NEW_TOKENS = 38;
const PROMPT_LEN = 13;

/** Number of engine.runKernel calls (one per tfjs op dispatch) while `fn` runs. */
export async function countDispatches(fn: () => Promise<unknown>): Promise<number> {
  const engine = tf.engine();
  const original = engine.runKernel.bind(engine);
  let n = 0;
  engine.runKernel = ((...args: Parameters<typeof original>) => {
    n++;
    return original(...args);
  }) as typeof engine.runKernel;
  try {
    await fn();
  } finally {
    engine.runKernel = original;
  }
  return n;
}

/**
 * Greedy generation of 38 new tokens per row from 13-token prompts with the embedded shape (a).
 * `warmupMs`: CPU time of untimed generations (at most 30) run before the timed ones, besides the
 * first three, so that V8 has compiled the decoding code with its optimizing tier: in a fresh
 * process the first ~10 batch-1 generations cost 3-6x a later one (JIT tier-up; tools/bench/
 * decode-b1-probe.ts), which a long run (npm start: hundreds of generations) pays once. PyTorch's
 * reference takes one untimed generation (no JIT). 0 = only the first three (the bench before
 * session 6).
 */
export async function benchGenerate(batch: number, useCache: boolean, reps: number, fused = true, warmupMs = 0): Promise<GenResult> {
  const model = CausalLM.init(configOf(trainShapes(false)[0]!), 0);
  const prompts = Array.from({ length: batch }, (_, b) => Array.from({ length: PROMPT_LEN }, (_, i) => (b * 31 + i * 7) % VOCAB));
  const opts = { maxNewTokens: NEW_TOKENS, temperature: 0, stopTokenIds: [], padTokenId: 0, useCache, fusedDecoding: fused };
  try {
    await generate(model, prompts, opts);
    // Steps 2..38 minus the prefill step: (all 38 steps - 1 step) / 37.
    const dispatchesPerStep = useCache
      ? ((await countDispatches(() => generate(model, prompts, opts))) - (await countDispatches(() => generate(model, prompts, { ...opts, maxNewTokens: 1 })))) / (NEW_TOKENS - 1)
      : null;
    const w0 = process.cpuUsage();
    for (let i = 0; i < 30 && cpuMs(w0) < warmupMs; i++) await generate(model, prompts, opts);
    const times: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = process.cpuUsage();
      const res = await generate(model, prompts, opts);
      times.push(cpuMs(t0));
      if (res.numGeneratedTokens !== batch * NEW_TOKENS) throw new Error(`tools/bench: expected ${batch * NEW_TOKENS} tokens, got ${res.numGeneratedTokens}`);
    }
    const ms = median(times);
    const name = `gen-${useCache ? 'cache' : 'nocache'}-b${batch}`;
    return { name: fused || !useCache ? name : `${name}-unfused`, batch, ms, tokensPerS: (batch * NEW_TOKENS * 1000) / ms, dispatchesPerStep, fused };
  } finally {
    model.dispose();
  }
}
