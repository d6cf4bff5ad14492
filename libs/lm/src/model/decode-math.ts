// Pure row loops behind the fused decoding kernels (decode-kernels.ts): the same math as the tfjs op
// chains in layers.ts / attention.ts / rope.ts, on flat Float32Arrays, accumulated in float64.

/** Sizes of one fused attention step: B rows, H query heads on Hkv kv heads of hd features. */
export interface DecodeDims {
  batch: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Positions the cache buffer holds (its axis 2). */
  capacity: number;
  /** Where the new key/value is written; the step attends positions 0..pos (Tk = pos + 1). */
  pos: number;
}

/**
 * x [rows, hd] in place: x*cos + rotate_half(x)*sin, rotate_half(x) = concat(-x2, x1) (Hugging Face
 * convention, rope.ts); cos/sin [B, hd] per batch row, `perRow` rows of x per batch row.
 */
export function ropeRowsInPlace(x: Float32Array, cos: Float32Array, sin: Float32Array, rows: number, perRow: number, hd: number): void {
  const half = hd / 2;
  const tmp = new Float64Array(hd);
  for (let r = 0; r < rows; r++) {
    const o = r * hd;
    const t = Math.floor(r / perRow) * hd;
    for (let i = 0; i < hd; i++) {
      const rot = i < half ? -(x[o + i + half] as number) : (x[o + i - half] as number);
      tmp[i] = (x[o + i] as number) * (cos[t + i] as number) + rot * (sin[t + i] as number);
    }
    for (let i = 0; i < hd; i++) x[o + i] = tmp[i] as number;
  }
}

/**
 * kNew/vNew [B, Hkv, hd] -> keys kCacheT [B, Hkv, hd, capacity] (transposed) and values vCache
 * [B, Hkv, capacity, hd] at position d.pos (in place).
 */
export function writeCacheStep(kNew: Float32Array, vNew: Float32Array, kCacheT: Float32Array, vCache: Float32Array, d: DecodeDims): void {
  const { batch: b, kvHeads: hkv, headDim: hd, capacity: cap, pos } = d;
  if (pos >= cap) throw new Error(`decode-math.ts: cache position ${pos} is outside its capacity ${cap}`);
  for (let bh = 0; bh < b * hkv; bh++) {
    vCache.set(vNew.subarray(bh * hd, (bh + 1) * hd), (bh * cap + pos) * hd);
    for (let i = 0; i < hd; i++) kCacheT[(bh * hd + i) * cap + pos] = kNew[bh * hd + i]!;
  }
}

/**
 * Scores of one decoding step (grouped-query attention, T = 1): query head h reads kv head
 * floor(h / G), G = H / Hkv (groupedAttention's order). q [B, H, hd] already scaled (and rotated),
 * keys kCacheT [B, Hkv, hd, capacity] -> scores [B, H, Tk] = q k^T (float32 sums), Tk = pos + 1.
 * The additive mask is added separately (addBias).
 */
export function attentionScores(q: Float32Array, kCacheT: Float32Array, d: DecodeDims, scores: Float32Array): void {
  const { batch: b, heads: h, kvHeads: hkv, headDim: hd, capacity: cap, pos } = d;
  const tk = pos + 1;
  const g = h / hkv;
  const acc = new Float64Array(tk);
  for (let bi = 0; bi < b; bi++) {
    for (let hi = 0; hi < h; hi++) {
      const qo = (bi * h + hi) * hd;
      const base = (bi * hkv + Math.floor(hi / g)) * hd * cap;
      acc.fill(0);
      for (let i = 0; i < hd; i++) {
        const qi = q[qo + i]!;
        const ko = base + i * cap;
        for (let j = 0; j < tk; j++) acc[j]! += qi * kCacheT[ko + j]!;
      }
      scores.set(acc, (bi * h + hi) * tk);
    }
  }
}

/** scores [B, H, Tk] += bias [B, Tk] (broadcast over heads), in place. */
export function addBias(scores: Float32Array, bias: Float32Array, batch: number, heads: number, tk: number): void {
  for (let bi = 0; bi < batch; bi++) {
    for (let hi = 0; hi < heads; hi++) {
      const so = (bi * heads + hi) * tk;
      for (let j = 0; j < tk; j++) scores[so + j]! += bias[bi * tk + j]!;
    }
  }
}

/** out[b, h] = sum_j probs[b, h, j] v[b, h / G, j]: probs [B, H, Tk], vCache [B, Hkv, capacity, hd] -> out [B, H, hd]. */
export function attentionWeightedSum(probs: Float32Array, vCache: Float32Array, d: DecodeDims, out: Float32Array): void {
  const { batch: b, heads: h, kvHeads: hkv, headDim: hd, capacity: cap, pos } = d;
  const tk = pos + 1;
  const g = h / hkv;
  const acc = new Float64Array(hd);
  for (let bi = 0; bi < b; bi++) {
    for (let hi = 0; hi < h; hi++) {
      const base = (bi * hkv + Math.floor(hi / g)) * cap * hd;
      const po = (bi * h + hi) * tk;
      acc.fill(0);
      for (let j = 0; j < tk; j++) {
        const w = probs[po + j]!;
        if (w === 0) continue; // masked (pad) positions: exp underflows to exactly 0
        const vo = base + j * hd;
        for (let i = 0; i < hd; i++) acc[i]! += w * vCache[vo + i]!;
      }
      out.set(acc, (bi * h + hi) * hd);
    }
  }
}

/** LayerNorm (beta given) or RMSNorm (beta null) of each row of x [rows, D] with gain gamma [D]. */
export function normRows(x: Float32Array, gamma: Float32Array, beta: Float32Array | null, eps: number, dim: number, out: Float32Array): void {
  const rows = x.length / dim;
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let mean = 0;
    if (beta) {
      for (let i = 0; i < dim; i++) mean += x[o + i] as number;
      mean /= dim;
    }
    let sq = 0;
    for (let i = 0; i < dim; i++) {
      const c = (x[o + i] as number) - mean;
      sq += c * c;
    }
    const rstd = 1 / Math.sqrt(sq / dim + eps);
    for (let i = 0; i < dim; i++) {
      const y = ((x[o + i] as number) - mean) * rstd * (gamma[i] as number);
      out[o + i] = beta ? y + (beta[i] as number) : y;
    }
  }
}

const GELU_C = Math.sqrt(2 / Math.PI);
const GELU_A = 0.044715;

/** erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), the approximation tfjs's Erf kernels use. */
export function erf(x: number): number {
  const sign = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign * (1 - poly * Math.exp(-a * a));
}

export type Activation = 'gelu_new' | 'gelu';

/** gelu_new's sigmoid argument 2u = 2 sqrt(2/pi) (x + 0.044715 x^3): gelu_new(x) = x sigmoid(2u) (layers.ts). */
export function geluNewArgument(x: Float32Array, out: Float32Array): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i] as number;
    out[i] = 2 * GELU_C * (v + GELU_A * v * v * v);
  }
}

/** Exact GELU 0.5 x (1 + erf(x / sqrt 2)). */
export function geluExactRows(x: Float32Array, out: Float32Array): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i] as number;
    out[i] = 0.5 * v * (1 + erf(v * Math.SQRT1_2));
  }
}

/** out = a * b * c elementwise (c optional): gelu_new = x * s, SwiGLU = gate * sigmoid(gate) * up. */
export function productInto(a: Float32Array, b: Float32Array, c: Float32Array | null, out: Float32Array): void {
  if (c) for (let i = 0; i < a.length; i++) out[i] = (a[i] as number) * (b[i] as number) * (c[i] as number);
  else for (let i = 0; i < a.length; i++) out[i] = (a[i] as number) * (b[i] as number);
}
