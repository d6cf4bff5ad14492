import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { CausalLM } from '../model/causal-lm';
import { KVCache } from '../model/kv-cache';
import { inPlaceBackend } from '../model/tensor-memory';
import { createRng, deriveSeed, type Rng } from './rng';
import { sampleToken } from './sampling';
import { StopStringMatcher, type StopStrings } from './stop-strings';

const tokenId = z.number().int().nonnegative();

/** Options of `generate`. Defaults follow Hugging Face `generate` where it has one. */
export const GenerateOptionsSchema = z.object({
  maxNewTokens: z.number().int().nonnegative().default(64).meta({ description: 'tokens to generate per row at most' }),
  temperature: z.number().nonnegative().default(1).meta({ description: 'softmax temperature; 0 = greedy (argmax)' }),
  topK: z.number().int().nonnegative().default(0).meta({ description: 'keep the k most likely tokens; 0 = off' }),
  topP: z.number().gt(0).lte(1).default(1).meta({ description: 'nucleus sampling mass; 1 = off' }),
  stopTokenIds: z.array(tokenId).optional().meta({ description: 'ends a row (the stop token is kept); default model.stopTokenIds (eos ids of config.json, generation_config.json and the tokenizer for a loaded model)' }),
  padTokenId: tokenId.optional().meta({ description: 'left padding of prompts; default padTokenId, else eosTokenId of the model config' }),
  seed: z.number().int().default(0).meta({ description: 'row b draws from its own stream seeded by (seed, b)' }),
  rowSeeds: z.array(z.number().int()).optional().meta({
    description: 'one seed per row, used instead of (seed, b): a row then samples the same tokens whatever batch it is in',
  }),
  useCache: z.boolean().default(true).meta({ description: 'KV cache; false recomputes the full forward every step (for tests)' }),
  fusedDecoding: z.boolean().default(true).meta({
    description: 'with the cache on wasm/cpu: in-place cache and fused 1-token kernels; false = plain tfjs ops (reference, benchmarks)',
  }),
});
export type GenerateOptions = z.input<typeof GenerateOptionsSchema> & {
  /** Strings that end a row once its decoded completion contains one (multi-token stops); the tokens stay. */
  stopStrings?: StopStrings;
};

export type FinishReason = 'stop' | 'length';

export interface GenerateResult {
  /** Completion ids per row, including the stop token, without padding. */
  tokens: number[][];
  /** Log-prob of each chosen token under the sampling distribution (greedy: log-softmax of raw logits). */
  logprobs: number[][];
  finishReasons: FinishReason[];
  /** Total generated tokens over all rows. */
  numGeneratedTokens: number;
}

interface Resolved {
  opts: z.infer<typeof GenerateOptionsSchema>;
  stop: Set<number>;
  pad: number;
}

function resolve(model: CausalLM, promptIds: number[][], input: GenerateOptions): Resolved {
  const parsed = GenerateOptionsSchema.safeParse(input);
  if (!parsed.success) throw new Error(`generate options: ${z.prettifyError(parsed.error)}`);
  const opts = parsed.data;
  const c = model.config;
  const pad = opts.padTokenId ?? c.padTokenId ?? c.eosTokenId;
  if (pad === null) throw new Error('generate options: padTokenId is not set and the model config has neither padTokenId nor eosTokenId; pass padTokenId');
  const stop = new Set(opts.stopTokenIds ?? model.stopTokenIds);
  if (promptIds.length === 0) throw new Error('generate: promptIds is empty; pass at least one prompt');
  promptIds.forEach((p, b) => {
    if (p.length === 0) throw new Error(`generate: promptIds[${b}] is empty; start prompts with at least one token (e.g. BOS)`);
    const bad = p.find((id) => !Number.isInteger(id) || id < 0 || id >= c.vocabSize);
    if (bad !== undefined) throw new Error(`generate: promptIds[${b}] has token id ${bad} outside [0, ${c.vocabSize}) (vocabSize)`);
  });
  const longest = Math.max(...promptIds.map((p) => p.length));
  if (c.family === 'gpt2' && longest + opts.maxNewTokens > c.maxPositions) {
    throw new Error(
      `generate: longest prompt (${longest}) + maxNewTokens (${opts.maxNewTokens}) exceeds maxPositions ${c.maxPositions} of this gpt2 model; lower maxNewTokens or shorten prompts`,
    );
  }
  return { opts, stop, pad };
}

/**
 * Batched generation with a KV cache: prompts are left-padded, the prompt batch is prefilled, then
 * one token per step. Finished rows keep feeding pad (masked out) until all rows stop or
 * maxNewTokens is reached. Sampling runs in JS on each [V] logits row with a seeded PRNG, so results
 * are reproducible across backends. The logits adapter of the model, if set, is applied.
 */
export async function generate(model: CausalLM, promptIds: number[][], options: GenerateOptions = {}): Promise<GenerateResult> {
  const { opts, stop, pad } = resolve(model, promptIds, options);
  const b = promptIds.length;
  const v = model.config.vocabSize;
  const tp = Math.max(...promptIds.map((p) => p.length));
  // Full sequences (used as-is without a cache): left-padded prompt, then generated tokens.
  const seqs = promptIds.map((p) => [...new Array<number>(tp - p.length).fill(pad), ...p]);
  const masks = promptIds.map((p) => [...new Array<number>(tp - p.length).fill(0), ...new Array<number>(p.length).fill(1)]);
  const tokens: number[][] = promptIds.map(() => []);
  const logprobs: number[][] = promptIds.map(() => []);
  const finished: (FinishReason | null)[] = promptIds.map(() => null);
  if (opts.rowSeeds && opts.rowSeeds.length !== b) {
    throw new Error(`generate: rowSeeds has ${opts.rowSeeds.length} seeds for ${b} prompts; pass one per row`);
  }
  const rngs: Rng[] = promptIds.map((_, row) => createRng(opts.rowSeeds ? opts.rowSeeds[row]! : deriveSeed(opts.seed, row)));
  const params = { temperature: opts.temperature, topK: opts.topK, topP: opts.topP };
  const stopText = options.stopStrings ? new StopStringMatcher(options.stopStrings) : null;
  const syncBackend = inPlaceBackend() !== null;
  const cache = opts.useCache ? new KVCache(model.config.numLayers, { capacity: tp + opts.maxNewTokens, fused: opts.fusedDecoding }) : null;
  try {
    for (let step = 0; step < opts.maxNewTokens; step++) {
      const len = tp + step;
      // With a cache: the prompt batch at step 0, then only the newest column.
      const start = cache && step > 0 ? len - 1 : 0;
      const last = tf.tidy(() => {
        const ids = tf.tensor2d(seqs.flatMap((s) => s.slice(start)), [b, len - start], 'int32');
        const mask = tf.tensor2d(masks.flatMap((m) => m.slice(start)), [b, len - start], 'int32');
        const logits = model.forward(ids, { attentionMask: mask, cache: cache ?? undefined, lastPositionOnly: true }); // [B, 1, V]
        return tf.reshape(logits, [b, v]);
      });
      let data: Float32Array;
      try {
        // wasm and cpu compute synchronously: read in place of an async round trip per token.
        data = (syncBackend ? last.dataSync() : await last.data()) as Float32Array;
      } finally {
        last.dispose();
      }
      for (let row = 0; row < b; row++) {
        if (finished[row]) {
          seqs[row]!.push(pad);
          masks[row]!.push(0);
          continue;
        }
        const { token, logprob } = sampleToken(data.subarray(row * v, (row + 1) * v), params, rngs[row]!, { step, row });
        tokens[row]!.push(token);
        logprobs[row]!.push(logprob);
        seqs[row]!.push(token);
        masks[row]!.push(1);
        if (stop.has(token) || stopText?.matches(tokens[row]!)) finished[row] = 'stop';
      }
      if (finished.every((f) => f !== null)) break;
    }
  } finally {
    cache?.dispose();
  }
  return {
    tokens,
    logprobs,
    finishReasons: finished.map((f) => f ?? 'length'),
    numGeneratedTokens: tokens.reduce((n, t) => n + t.length, 0),
  };
}
