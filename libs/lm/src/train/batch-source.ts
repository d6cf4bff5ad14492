import { seededRandom } from '../generation/rng';
import { allTokensLossMask, packBatchArrays, type PackedArrays } from '../ops/pack-batch';

/**
 * One training batch as token ids. `docs`: plain language modelling, every next token counts.
 * `prompts` + `responses`: supervised pairs; the loss covers the response only unless
 * `lossOnPrompt` is set in the trainer options.
 */
export type TrainBatch = { docs: number[][] } | { prompts: number[][]; responses: number[][] };

/** Produces the batch for 0-based `step`, given the batch size requested by the trainer. */
export type BatchSource = (step: number, batchSize: number) => TrainBatch;

/** A token stream sampled as random windows of `seqLen + 1` tokens (seeded, with replacement). */
export interface TokenStreamSource {
  tokens: ArrayLike<number>;
  seqLen: number;
  seed?: number;
}

/** Batch source drawing random contiguous windows from one long token stream. */
export function tokenStreamSource({ tokens, seqLen, seed = 0 }: TokenStreamSource): BatchSource {
  if (!Number.isInteger(seqLen) || seqLen < 1) throw new Error(`train/batch-source.ts: seqLen must be an integer >= 1, got ${seqLen}`);
  if (tokens.length < seqLen + 1) {
    throw new Error(`train/batch-source.ts: the token stream has ${tokens.length} tokens but a window needs seqLen + 1 = ${seqLen + 1}; lower seqLen or add data`);
  }
  const rand = seededRandom(seed);
  const span = tokens.length - seqLen; // number of valid window starts
  return (_step, batchSize) => {
    const docs: number[][] = [];
    for (let b = 0; b < batchSize; b++) {
      const start = Math.floor(rand() * span);
      docs.push(Array.from({ length: seqLen + 1 }, (_, i) => tokens[start + i]!));
    }
    return { docs };
  };
}

/** Pack a TrainBatch; the loss mask follows the batch kind and `lossOnPrompt`. */
export function packTrainBatch(batch: TrainBatch, padId: number, lossOnPrompt: boolean): PackedArrays {
  if ('docs' in batch) {
    // A document is a one-token "prompt" plus the rest: every token after the first is a target.
    const short = batch.docs.findIndex((d) => d.length < 2);
    if (short >= 0) throw new Error(`train/batch-source.ts: docs[${short}] has ${batch.docs[short]!.length} tokens; a document needs >= 2`);
    return packBatchArrays(
      batch.docs.map((d) => d.slice(0, 1)),
      batch.docs.map((d) => d.slice(1)),
      padId,
    );
  }
  const packed = packBatchArrays(batch.prompts, batch.responses, padId);
  return lossOnPrompt ? { ...packed, lossMask: allTokensLossMask(packed) } : packed;
}
