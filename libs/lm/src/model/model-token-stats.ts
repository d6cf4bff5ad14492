import * as tf from '@tensorflow/tfjs-core';
import { DEFAULT_LOGITS_CHUNK_BYTES, chunkRowsFor, headTokenStats } from '../ops/head-token-stats';
import { tokenLogProbsAndEntropy } from '../ops/token-stats';
import type { CausalLM, ForwardOptions } from './causal-lm';

/**
 * Per-token log-probs and entropies of a packed batch without holding [B, T, V] logits when they
 * are large (issue #11: a 152k vocabulary). Two paths with the same values and gradients:
 * - plain: forward() to logits [B, T, V], then log-softmax (what emrl always did); taken when the
 *   logits take at most a quarter of the budget, or when a LogitsAdapter is attached (adapters act
 *   on whole logits);
 * - chunked: hiddenStates() [B*T, D], then headTokenStats() a chunk of rows at a time, so the
 *   largest tensor is one [chunkRows, V] chunk.
 */

export interface TokenStatsAt {
  /** log softmax(logits / tau)[target] [B, T]. */
  logProbs: tf.Tensor2D;
  /** Full-vocabulary entropy of softmax(logits / tau) [B, T]. */
  entropy: tf.Tensor2D;
}

export interface TokenStats {
  readonly path: 'plain' | 'chunked';
  /** Stats at a temperature, computed on first use and cached per temperature. */
  at(temperature: number): TokenStatsAt;
  /** Raw logits [B, T, V] (adapter applied, temperature not), computed on first access: on the chunked path this is the whole tensor the path avoids. */
  readonly logits: tf.Tensor3D;
  /** Frees everything this object computed (not the batch's tensors). */
  dispose(): void;
}

export interface TokenStatsBatch {
  inputIds: tf.Tensor2D; // [B, T] int32
  attentionMask: tf.Tensor2D; // [B, T]
  targets: tf.Tensor2D; // [B, T] int32
}

export interface ModelTokenStatsOptions {
  /** Bytes of one chunk of float32 logits (default 32 MiB); whole logits up to a quarter of it take the plain path. */
  logitsBudgetBytes?: number;
  /** Passed to the model's forward pass (LoRA off, another adapter, ...). */
  forward?: Omit<ForwardOptions, 'cache' | 'lastPositionOnly' | 'attentionMask'>;
}

/** Which path modelTokenStats takes for a [batch, seqLen] batch. */
export function tokenStatsPath(model: CausalLM, batch: number, seqLen: number, logitsBudgetBytes = DEFAULT_LOGITS_CHUNK_BYTES): 'plain' | 'chunked' {
  if (model.getLogitsAdapter()) return 'plain';
  return batch * seqLen * model.config.vocabSize * 4 <= logitsBudgetBytes / 4 ? 'plain' : 'chunked';
}

class CachedStats implements TokenStats {
  private readonly byTau = new Map<number, TokenStatsAt>();
  private logitsT: tf.Tensor3D | null = null;

  constructor(
    readonly path: 'plain' | 'chunked',
    private readonly makeLogits: () => tf.Tensor3D,
    private readonly compute: (tau: number) => TokenStatsAt,
    /** Tensors this object frees on dispose (the logits too when it made them). */
    private readonly owned: tf.Tensor[],
    private readonly ownsLogits: boolean,
  ) {}

  get logits(): tf.Tensor3D {
    return (this.logitsT ??= this.makeLogits());
  }

  at(temperature: number): TokenStatsAt {
    let s = this.byTau.get(temperature);
    if (!s) {
      s = this.compute(temperature);
      this.byTau.set(temperature, s);
    }
    return s;
  }

  dispose(): void {
    for (const s of this.byTau.values()) tf.dispose([s.logProbs, s.entropy]);
    this.byTau.clear();
    if (this.ownsLogits) this.logitsT?.dispose();
    this.logitsT = null;
    tf.dispose(this.owned);
  }
}

/** Token stats of logits already computed [B, T, V] (e.g. a frozen model's, through an adapter). The logits stay the caller's. */
export function logitsTokenStats(logits: tf.Tensor3D, targets: tf.Tensor2D): TokenStats {
  return new CachedStats('plain', () => logits, (tau) => tokenLogProbsAndEntropy(logits, targets, tau), [], false);
}

/** Token stats of `model` on a packed batch, on the plain or the chunked path (see tokenStatsPath). */
export function modelTokenStats(model: CausalLM, batch: TokenStatsBatch, opts: ModelTokenStatsOptions = {}): TokenStats {
  const [b, t] = batch.inputIds.shape;
  const budget = opts.logitsBudgetBytes ?? DEFAULT_LOGITS_CHUNK_BYTES;
  const fwd: ForwardOptions = { ...opts.forward, attentionMask: batch.attentionMask };
  if (tokenStatsPath(model, b, t, budget) === 'plain') {
    const logits = model.forward(batch.inputIds, fwd); // [B, T, V]
    return new CachedStats('plain', () => logits, (tau) => tokenLogProbsAndEntropy(logits, batch.targets, tau), [logits], false);
  }
  const hidden = model.hiddenStates(batch.inputIds, fwd); // [B*T, D]
  const head = model.headWeight();
  const weight = head.weight as tf.Tensor2D & { trainable?: boolean };
  const targets = tf.reshape(batch.targets, [b * t]) as tf.Tensor1D; // [N]
  const chunkRows = chunkRowsFor(model.config.vocabSize, budget);
  const compute = (tau: number): TokenStatsAt =>
    tf.tidy(() => {
      const [s] = headTokenStats(hidden, head, targets, [tau], { chunkRows, headGrad: weight.trainable !== false });
      return { logProbs: tf.reshape(s!.logProb, [b, t]) as tf.Tensor2D, entropy: tf.reshape(s!.entropy, [b, t]) as tf.Tensor2D }; // [B, T]
    });
  return new CachedStats('chunked', () => model.logitsFromHidden(hidden, b, t), compute, [hidden, targets], true);
}
