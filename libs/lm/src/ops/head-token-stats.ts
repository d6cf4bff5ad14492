import * as tf from '@tensorflow/tfjs-core';

/**
 * Per-position log-prob of the target and entropy, straight from the hidden states and the output
 * head, a chunk of rows at a time: the [N, V] logits never exist, only [chunkRows, V] pieces (the
 * chunked-loss idea of Liger Kernel's fused linear cross-entropy, without fusing into a kernel).
 * The backward pass recomputes each chunk's logits and accumulates d/d hidden and d/d head.
 *
 * With z = h W (logits of one row), z' = z / tau, p = softmax(z'), y the target:
 *   logProb = z'_y - lse(z'),                 d logProb / dz = (onehot_y - p) / tau
 *   entropy = -sum_v p_v log p_v,            d entropy / dz = -p (log p + entropy) / tau
 */

export interface HeadWeight {
  /** [D, V] (transposed false: logits = h W) or [V, D] (transposed true, a tied embedding: logits = h W^T). */
  weight: tf.Tensor2D;
  transposed: boolean;
}

export interface HeadTokenStatsOptions {
  /** Rows of logits computed at once (the peak is a few [chunkRows, V] tensors). */
  chunkRows: number;
  /** Whether the gradient w.r.t. the head weight is wanted; false skips its [V, D] accumulation (e.g. LoRA: the head is frozen). Default true. */
  headGrad?: boolean;
}

export interface HeadStatsAt {
  /** log softmax(z / tau)[target] per row [N]. */
  logProb: tf.Tensor1D;
  /** Full-vocabulary entropy of softmax(z / tau) per row [N]. */
  entropy: tf.Tensor1D;
}

/** Default memory of one chunk of logits: 32 MiB (55 rows at Qwen2's 151,936-token vocabulary). */
export const DEFAULT_LOGITS_CHUNK_BYTES = 32 * 2 ** 20;

/** Rows per chunk so one float32 [rows, V] chunk of logits fits in `budgetBytes` (at least 1). */
export function chunkRowsFor(vocabSize: number, budgetBytes = DEFAULT_LOGITS_CHUNK_BYTES): number {
  if (!(budgetBytes > 0)) throw new Error(`ops/head-token-stats.ts: the logits budget must be > 0 bytes, got ${budgetBytes}`);
  return Math.max(1, Math.floor(budgetBytes / (vocabSize * 4)));
}

function checkInputs(hidden: tf.Tensor2D, head: HeadWeight, targets: tf.Tensor1D, temperatures: readonly number[], chunkRows: number): void {
  const [n, d] = hidden.shape;
  const wd = head.transposed ? head.weight.shape[1] : head.weight.shape[0];
  if (wd !== d) {
    throw new Error(`ops/head-token-stats.ts: hidden is [${n}, ${d}] but the head weight is [${head.weight.shape}] (transposed ${head.transposed}); pass CausalLM.headWeight() of the same model`);
  }
  if (targets.shape[0] !== n) throw new Error(`ops/head-token-stats.ts: targets has ${targets.shape[0]} entries, hidden has ${n} rows; pass one target per row`);
  if (temperatures.length === 0) throw new Error('ops/head-token-stats.ts: no temperatures requested; pass at least one');
  for (const t of temperatures) {
    if (!(t > 0) || !Number.isFinite(t)) throw new Error(`ops/head-token-stats.ts: temperature must be a finite number > 0, got ${t}`);
  }
  if (!Number.isInteger(chunkRows) || chunkRows < 1) throw new Error(`ops/head-token-stats.ts: chunkRows must be an integer >= 1, got ${chunkRows}`);
}

/** Logits of rows [start, start + rows): [rows, D] @ head -> [rows, V]. */
function chunkLogits(h: tf.Tensor2D, head: HeadWeight): tf.Tensor2D {
  return tf.matMul(h, head.weight, false, head.transposed) as tf.Tensor2D;
}

/** log softmax(z / tau) and the entropy of one chunk: [c, V] -> [c, V], [c]. */
function logSoftmaxAndEntropy(z: tf.Tensor2D, tau: number): { logp: tf.Tensor2D; entropy: tf.Tensor1D } {
  const zs = tau === 1 ? z : tf.div(z, tau);
  const logp = tf.sub(zs, tf.logSumExp(zs, -1, true)) as tf.Tensor2D; // [c, V]
  const entropy = tf.neg(tf.sum(tf.mul(tf.exp(logp), logp), -1)) as tf.Tensor1D; // [c]
  return { logp, entropy };
}

/** One-hot of a chunk's targets [c] -> [c, V] float32 (int32 one-hot then cast; see token-stats.ts). */
function oneHotRows(targets: tf.Tensor1D, vocab: number): tf.Tensor2D {
  return tf.cast(tf.oneHot(targets, vocab), 'float32') as tf.Tensor2D;
}

/**
 * Per-row log-prob of `targets` and entropy under softmax(hidden @ head / tau), for each of
 * `temperatures`, computed `chunkRows` rows at a time. hidden [N, D], targets [N] int32.
 * Differentiable w.r.t. hidden and the head weight (tf.customGrad; the backward pass also works in
 * chunks). Returns one HeadStatsAt per temperature, in order.
 */
export function headTokenStats(hidden: tf.Tensor2D, head: HeadWeight, targets: tf.Tensor1D, temperatures: readonly number[], opts: HeadTokenStatsOptions): HeadStatsAt[] {
  const { chunkRows } = opts;
  checkInputs(hidden, head, targets, temperatures, chunkRows);
  const [n] = hidden.shape;
  const vocab = head.transposed ? head.weight.shape[0] : head.weight.shape[1];
  const k = temperatures.length;
  const headGrad = opts.headGrad ?? true;
  const ids = tf.cast(targets, 'int32') as tf.Tensor1D;
  const starts: number[] = [];
  for (let s = 0; s < n; s += chunkRows) starts.push(s);
  const rowsAt = (s: number): number => Math.min(chunkRows, n - s);

  // Forward: stats [2K, N]; row 2k = logProb at temperatures[k], row 2k + 1 = entropy.
  const forward = (h: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D => {
    const hw: HeadWeight = { weight: w, transposed: head.transposed };
    const pieces = starts.map((s) =>
      tf.tidy(() => {
        const c = rowsAt(s);
        const z = chunkLogits(tf.slice(h, [s, 0], [c, -1]), hw); // [c, V]
        const flatIdx = tf.add(tf.mul(tf.range(0, c, 1, 'int32'), tf.scalar(vocab, 'int32')), tf.slice(ids, [s], [c])); // [c] int32
        const rows: tf.Tensor1D[] = [];
        for (const tau of temperatures) {
          const { logp, entropy } = logSoftmaxAndEntropy(z, tau);
          rows.push(tf.gather(tf.reshape(logp, [c * vocab]), flatIdx) as tf.Tensor1D, entropy); // [c] each
        }
        return tf.stack(rows) as tf.Tensor2D; // [2K, c]
      }),
    );
    const out = pieces.length === 1 ? pieces[0]! : tf.concat(pieces, 1); // [2K, N]
    if (pieces.length > 1) pieces.forEach((p) => p.dispose());
    return out;
  };

  // Backward: dz of a chunk = sum_k [g_lp (onehot - p) - g_H p (log p + H)] / tau_k.
  const backward = (dy: tf.Tensor2D, h: tf.Tensor2D, w: tf.Tensor2D, savedIds: tf.Tensor1D): { dh: tf.Tensor2D; dw: tf.Tensor2D | null } => {
    const hw: HeadWeight = { weight: w, transposed: head.transposed };
    const dhPieces: tf.Tensor2D[] = [];
    let dw: tf.Tensor2D | null = null;
    for (const s of starts) {
      const c = rowsAt(s);
      const [dh, dwChunk] = tf.tidy((): tf.Tensor2D[] => {
        const hc = tf.slice(h, [s, 0], [c, -1]) as tf.Tensor2D; // [c, D]
        const z = chunkLogits(hc, hw); // [c, V]
        const g = tf.slice(dy, [0, s], [-1, c]); // [2K, c]
        const onehot = oneHotRows(tf.slice(savedIds, [s], [c]), vocab); // [c, V]
        let dz: tf.Tensor2D | null = null;
        for (let i = 0; i < k; i++) {
          const tau = temperatures[i]!;
          const { logp, entropy } = logSoftmaxAndEntropy(z, tau);
          const p = tf.exp(logp); // [c, V]
          const gLp = tf.reshape(tf.slice(g, [2 * i, 0], [1, c]), [c, 1]);
          const gH = tf.reshape(tf.slice(g, [2 * i + 1, 0], [1, c]), [c, 1]);
          const fromLp = tf.mul(gLp, tf.sub(onehot, p));
          const fromH = tf.mul(tf.neg(gH), tf.mul(p, tf.add(logp, tf.reshape(entropy, [c, 1]))));
          let term = tf.add(fromLp, fromH) as tf.Tensor2D; // [c, V]
          if (tau !== 1) term = tf.div(term, tau) as tf.Tensor2D;
          dz = dz ? (tf.add(dz, term) as tf.Tensor2D) : term;
        }
        const dzc = dz!;
        const dhc = tf.matMul(dzc, w, false, !head.transposed) as tf.Tensor2D; // [c, D]
        if (!headGrad) return [dhc];
        const dwc = head.transposed ? tf.matMul(dzc, hc, true, false) : tf.matMul(hc, dzc, true, false); // [V, D] or [D, V]
        return [dhc, dwc as tf.Tensor2D];
      }) as [tf.Tensor2D, tf.Tensor2D?];
      dhPieces.push(dh!);
      if (dwChunk) {
        if (dw) {
          const prev: tf.Tensor2D = dw;
          dw = tf.add(prev, dwChunk) as tf.Tensor2D;
          prev.dispose();
          dwChunk.dispose();
        } else dw = dwChunk;
      }
    }
    const dhAll = dhPieces.length === 1 ? dhPieces[0]! : (tf.concat(dhPieces, 0) as tf.Tensor2D); // [N, D]
    if (dhPieces.length > 1) dhPieces.forEach((p) => p.dispose());
    return { dh: dhAll, dw };
  };

  const stats = tf.tidy(() => {
    if (headGrad) {
      const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
        const [h, w, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
        save([h, w, ids]);
        return {
          value: forward(h as tf.Tensor2D, w as tf.Tensor2D),
          gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
            const r = backward(dy as tf.Tensor2D, saved[0] as tf.Tensor2D, saved[1] as tf.Tensor2D, saved[2] as tf.Tensor1D);
            return [r.dh, r.dw!];
          },
        };
      });
      return f(hidden, head.weight) as tf.Tensor2D; // [2K, N]
    }
    const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [h, save] = args as [tf.Tensor, tf.GradSaveFunc];
      save([h, ids]);
      return {
        value: forward(h as tf.Tensor2D, head.weight),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => backward(dy as tf.Tensor2D, saved[0] as tf.Tensor2D, head.weight, saved[1] as tf.Tensor1D).dh,
      };
    });
    return f(hidden) as tf.Tensor2D; // [2K, N]
  });
  const out: HeadStatsAt[] = [];
  for (let i = 0; i < k; i++) {
    out.push({
      logProb: tf.reshape(tf.slice(stats, [2 * i, 0], [1, n]), [n]) as tf.Tensor1D,
      entropy: tf.reshape(tf.slice(stats, [2 * i + 1, 0], [1, n]), [n]) as tf.Tensor1D,
    });
  }
  stats.dispose();
  ids.dispose();
  return out;
}
