// @emrl/lm/testing: tiny seeded fixtures for tests in any lib.
import * as tf from '@tensorflow/tfjs-core';
import { currentBackend, initBackend, type BackendInfo } from './backend';
import { defineModelConfig, type ModelConfig } from './config';
import { createRng, deriveSeed, hashString } from './generation/rng';
import { CausalLM } from './model/causal-lm';
import { ModelWorkers } from './parallel/model-workers';

/** Initialize the default backend for tests (wasm unless EMRL_BACKEND says otherwise). */
export async function setupTestBackend(): Promise<BackendInfo> {
  return initBackend();
}

export interface TinyModelOptions {
  family: 'gpt2' | 'llama';
  vocabSize?: number;
  seed?: number;
  /** Llama family only; default true. */
  tieWordEmbeddings?: boolean;
  /**
   * Multiplies every matrix after the N(0, 0.02) init (default 10) so a random tiny model has
   * peaked, well-separated logits instead of a near-uniform distribution (no argmax near-ties).
   * Vectors also get seeded noise (biases N(0, 0.1), norm gains 1 + N(0, 0.1)) so every
   * parameter path is exercised. weightScale 1 leaves the plain CausalLM.init weights.
   */
  weightScale?: number;
}

/** Config of the tiny test model: 2 layers, width 32, 4 heads (llama: 2 kv heads, q/k/v bias, Qwen2 type). */
export function tinyModelConfig(opts: Omit<TinyModelOptions, 'seed' | 'weightScale'>): ModelConfig {
  const common = {
    vocabSize: opts.vocabSize ?? 64,
    hiddenSize: 32,
    numLayers: 2,
    numHeads: 4,
    maxPositions: 128,
    bosTokenId: 1,
    eosTokenId: 2,
    padTokenId: 0,
  };
  return opts.family === 'gpt2'
    ? defineModelConfig({ family: 'gpt2', ...common, intermediateSize: 64 }, 'tinyModelConfig')
    : defineModelConfig(
        {
          family: 'llama',
          modelType: 'qwen2',
          ...common,
          numKvHeads: 2,
          intermediateSize: 64,
          attentionBias: true,
          tieWordEmbeddings: opts.tieWordEmbeddings ?? true,
          ropeTheta: 10000,
          normEps: 1e-6,
        },
        'tinyModelConfig',
      );
}

/** A deterministic tiny CausalLM (same seed, same weights on every backend). Dispose it after use. */
export function makeTinyModel(opts: TinyModelOptions): CausalLM {
  const model = CausalLM.init(tinyModelConfig(opts), opts.seed ?? 0);
  const scale = opts.weightScale ?? 10;
  if (scale === 1) return model;
  for (const [name, w] of model.weights) {
    if (w.rank === 2) {
      w.assign(tf.tidy(() => tf.mul(w, scale)));
      continue;
    }
    const rng = createRng(deriveSeed(opts.seed ?? 0, hashString(`tiny:${name}`)));
    const noise = Float32Array.from({ length: w.size }, () => 0.1 * rng.nextNormal());
    w.assign(tf.tidy(() => tf.add(w, tf.tensor1d(noise))));
  }
  return model;
}

/**
 * One worker thread on the test backend that splits even the tiny test models' jobs (the default
 * SPLIT_MIN keeps them on one thread). Close it after use.
 */
export async function startSplittingWorkers(): Promise<ModelWorkers> {
  const backend = currentBackend() ?? (await setupTestBackend());
  return ModelWorkers.start(1, backend.name, { minShare: { generateRows: 1, passTokens: 1 } });
}
