import * as tf from '@tensorflow/tfjs-core';

/**
 * One packed batch in plain arrays (row-major [B, T]); build tensors lazily with `toPackedBatch`.
 * Layout per row: left pads | prompt | response | right pads, with every prompt ending at column
 * `promptLength - 1`. Alignment (docs/ARCHITECTURE.md): logits at t predict token t+1, so
 * `targets[b, t] = inputIds[b, t+1]` and `lossMask[b, t] = 1` iff `targets[b, t]` is a response token.
 */
export interface PackedArrays {
  batchSize: number; // B
  seqLen: number; // T = promptLength + longest response
  promptLength: number; // common padded prompt length P
  inputIds: Int32Array; // [B, T]
  attentionMask: Float32Array; // [B, T] 1 = real token
  targets: Int32Array; // [B, T] inputIds shifted left, last column pad
  lossMask: Float32Array; // [B, T] 1 iff targets[b, t] is a response token
  promptLengths: number[]; // [B] unpadded
  responseLengths: number[]; // [B] unpadded
}

export interface PackedBatch {
  inputIds: tf.Tensor2D; // [B, T] int32
  attentionMask: tf.Tensor2D; // [B, T] float32
  targets: tf.Tensor2D; // [B, T] int32
  lossMask: tf.Tensor2D; // [B, T] float32
  promptLength: number;
}

/** Pack prompts (left-padded) and responses (right-padded) into plain arrays. */
export function packBatchArrays(prompts: number[][], responses: number[][], padId: number): PackedArrays {
  if (prompts.length !== responses.length) {
    throw new Error(`ops/pack-batch.ts: prompts (${prompts.length}) and responses (${responses.length}) must have the same length; pass one response per prompt`);
  }
  if (prompts.length === 0) throw new Error('ops/pack-batch.ts: prompts is empty; pass at least one row');
  if (!Number.isInteger(padId) || padId < 0) throw new Error(`ops/pack-batch.ts: padId must be a non-negative integer, got ${padId}`);
  prompts.forEach((p, b) => {
    // The first response token is predicted from the last prompt position, so a prompt needs >= 1 token (e.g. BOS).
    if (p.length === 0) throw new Error(`ops/pack-batch.ts: prompts[${b}] is empty; start every prompt with at least one token (e.g. BOS)`);
  });
  const B = prompts.length;
  const P = Math.max(...prompts.map((p) => p.length));
  const R = Math.max(0, ...responses.map((r) => r.length));
  const T = P + R;
  const inputIds = new Int32Array(B * T).fill(padId);
  const attentionMask = new Float32Array(B * T);
  const targets = new Int32Array(B * T).fill(padId);
  const lossMask = new Float32Array(B * T);
  for (let b = 0; b < B; b++) {
    const p = prompts[b]!;
    const r = responses[b]!;
    const row = b * T;
    const start = P - p.length;
    for (let i = 0; i < p.length; i++) {
      inputIds[row + start + i] = p[i]!;
      attentionMask[row + start + i] = 1;
    }
    for (let i = 0; i < r.length; i++) {
      inputIds[row + P + i] = r[i]!;
      attentionMask[row + P + i] = 1;
      // response token at column P+i is the target of column P+i-1 (>= 0 since P >= 1)
      lossMask[row + P + i - 1] = 1;
    }
    for (let t = 0; t < T - 1; t++) targets[row + t] = inputIds[row + t + 1]!;
  }
  return {
    batchSize: B,
    seqLen: T,
    promptLength: P,
    inputIds,
    attentionMask,
    targets,
    lossMask,
    promptLengths: prompts.map((p) => p.length),
    responseLengths: responses.map((r) => r.length),
  };
}

/** Tensors for a packed batch (caller owns and disposes them). */
export function toPackedBatch(a: PackedArrays): PackedBatch {
  const shape: [number, number] = [a.batchSize, a.seqLen];
  return {
    inputIds: tf.tensor2d(a.inputIds, shape, 'int32'),
    attentionMask: tf.tensor2d(a.attentionMask, shape, 'float32'),
    targets: tf.tensor2d(a.targets, shape, 'int32'),
    lossMask: tf.tensor2d(a.lossMask, shape, 'float32'),
    promptLength: a.promptLength,
  };
}

/** Pack prompts (left-padded to the longest) and responses (right-padded) into [B, T] tensors. */
export function packBatch(prompts: number[][], responses: number[][], padId: number): PackedBatch {
  return toPackedBatch(packBatchArrays(prompts, responses, padId));
}

/**
 * Loss mask over every real next-token prediction (prompt and response): 1 iff both the input at t
 * and the target at t+1 are real tokens. Use it for plain language-model training on documents.
 */
export function allTokensLossMask(a: PackedArrays): Float32Array {
  const { batchSize: B, seqLen: T, attentionMask } = a;
  const m = new Float32Array(B * T);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T - 1; t++) m[b * T + t] = attentionMask[b * T + t]! * attentionMask[b * T + t + 1]!;
  }
  return m;
}
