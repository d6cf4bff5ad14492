import * as tf from '@tensorflow/tfjs-core';
import { AdamW, CausalLM, defineModelConfig, generate, initBackend, wasmHeapBytes, type ModelConfig } from '@emrl/lm';
import { cpuMs, median } from './stats';

/**
 * A Qwen2.5-0.5B-shaped model (config.json of Qwen/Qwen2.5-0.5B: hidden 896, 14 / 2 heads,
 * intermediate 4864, vocab 151936, tied embeddings, rope_theta 1e6, RMSNorm eps 1e-6, q/k/v bias)
 * with random weights and `layers` layers (the real model has 24). Shapes shared with
 * torch_real_size.py.
 */
export const REAL_SIZE = {
  vocab: 151_936,
  hidden: 896,
  heads: 14,
  kvHeads: 2,
  intermediate: 4864,
  fullLayers: 24,
  /** forward: batch 1 x this many tokens. */
  forwardTokens: 128,
  /** decoding: prompts of this many tokens, this many new tokens, greedy. */
  promptTokens: 16,
  newTokens: 16,
  decodeBatches: [1, 4],
  /** LoRA step: batch 1 x this many tokens, r 16 / alpha 32 on every projection (PEFT names). */
  loraTokens: 64,
  loraRank: 16,
  loraModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
} as const;

/** The part of measureEmrlRealSize that runs now (a failure names it). */
export const realSizePhase = { now: 'backend' };

export interface RealSizeResult {
  layers: number;
  /** Forward tokens/s (batch 1 x forwardTokens, full logits). */
  forwardTps: number;
  /** New tokens/s of greedy cached decoding per batch size. */
  decodeTps: Record<string, number>;
  /** ms of one LoRA fwd + bwd + AdamW step. */
  loraStepMs: number;
  /** Peak process RSS (bytes). */
  peakRss: number;
  /** wasm heap size (bytes; it only grows, so this is its peak). null on other backends. */
  wasmHeap: number | null;
}

export function realSizeConfig(layers: number): ModelConfig {
  const s = REAL_SIZE;
  return defineModelConfig({
    family: 'llama',
    modelType: 'qwen2',
    vocabSize: s.vocab,
    hiddenSize: s.hidden,
    numLayers: layers,
    numHeads: s.heads,
    numKvHeads: s.kvHeads,
    intermediateSize: s.intermediate,
    maxPositions: 32_768,
    normEps: 1e-6,
    ropeTheta: 1_000_000,
    attentionBias: true,
    tieWordEmbeddings: true,
    activation: 'silu',
  });
}

function timeCpu(reps: number, fn: () => void | Promise<void>): Promise<number> {
  return (async () => {
    const times: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = process.cpuUsage();
      await fn();
      times.push(cpuMs(t0));
    }
    return median(times);
  })();
}

/** Forward, cached decoding and a LoRA step of the real-size shape; CPU time, one warm-up each. */
export async function measureEmrlRealSize(layers: number, reps: number): Promise<RealSizeResult> {
  await initBackend({ prefer: 'wasm' });
  const s = REAL_SIZE;
  realSizePhase.now = 'init (random weights)';
  const model = CausalLM.init(realSizeConfig(layers), 0);
  const ids = (b: number, t: number, salt: number): number[][] => Array.from({ length: b }, (_, r) => Array.from({ length: t }, (_, i) => (r * 7919 + i * 104_729 + salt) % s.vocab));
  try {
    realSizePhase.now = 'forward';
    const fwdIds = tf.tensor2d(ids(1, s.forwardTokens, 1), undefined, 'int32');
    const forward = (): void => tf.dispose(model.forward(fwdIds)); // [1, T, V]
    forward();
    const fwdMs = await timeCpu(reps, forward);
    fwdIds.dispose();

    const decodeTps: Record<string, number> = {};
    for (const b of s.decodeBatches) {
      realSizePhase.now = `decoding b${b}`;
      const prompts = ids(b, s.promptTokens, 2);
      const opts = { maxNewTokens: s.newTokens, temperature: 0, stopTokenIds: [], padTokenId: 0, useCache: true };
      await generate(model, prompts, opts);
      const ms = await timeCpu(reps, async () => void (await generate(model, prompts, opts)));
      decodeTps[`b${b}`] = (b * s.newTokens * 1000) / ms;
    }

    realSizePhase.now = 'LoRA step';
    model.attachLora({ r: s.loraRank, alpha: 2 * s.loraRank, targetModules: [...s.loraModules] }, 0);
    const optimizer = new AdamW({ lr: 1e-4, weightDecay: 0, gradClip: 0 }, { variables: model.namedTrainableVariables() });
    const x = tf.tensor2d(ids(1, s.loraTokens, 3), undefined, 'int32');
    const y = tf.tensor1d(ids(1, s.loraTokens, 4)[0]!, 'int32');
    const step = (): void => {
      const { value, grads } = tf.variableGrads(() => {
        const logits = tf.reshape(model.forward(x), [s.loraTokens, s.vocab]); // [T, V]
        return tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(logits), tf.oneHot(y, s.vocab)), -1))) as tf.Scalar;
      }, model.trainableVariables());
      value.dataSync();
      optimizer.applyGradients(grads);
      tf.dispose([value, ...Object.values(grads)]);
    };
    step();
    const loraStepMs = await timeCpu(reps, step);
    tf.dispose([x, y]);
    optimizer.dispose();
    return {
      layers,
      forwardTps: (s.forwardTokens * 1000) / fwdMs,
      decodeTps,
      loraStepMs,
      peakRss: process.resourceUsage().maxRSS * 1024,
      wasmHeap: wasmHeapBytes(),
    };
  } finally {
    model.dispose();
  }
}
