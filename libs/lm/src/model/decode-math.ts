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
 * One decoding step of grouped-query attention on an in-place cache (groupedAttention for T = 1):
 * writes kNew/vNew [B, Hkv, hd] into kCache/vCache [B, Hkv, capacity, hd] at `pos`, then
 * out[b, h] = sum_j softmax_j(q[b, h] . k[b, h / G, j] + bias[b, j]) v[b, h / G, j] over j <= pos.
 * q [B, H, hd] is already scaled (and rotated); bias [B, pos + 1] is the additive mask row.
 */
export function decodeAttentionStep(
  q: Float32Array,
  kNew: Float32Array,
  vNew: Float32Array,
  kCache: Float32Array,
  vCache: Float32Array,
  bias: Float32Array,
  d: DecodeDims,
  out: Float32Array,
): void {
  const { batch: b, heads: h, kvHeads: hkv, headDim: hd, capacity: cap, pos } = d;
  if (pos >= cap) throw new Error(`decode-math.ts: cache position ${pos} is outside its capacity ${cap}`);
  const tk = pos + 1;
  const g = h / hkv;
  for (let bh = 0; bh < b * hkv; bh++) {
    const dst = (bh * cap + pos) * hd;
    kCache.set(kNew.subarray(bh * hd, (bh + 1) * hd), dst);
    vCache.set(vNew.subarray(bh * hd, (bh + 1) * hd), dst);
  }
  const p = new Float64Array(tk);
  const acc = new Float64Array(hd);
  for (let bi = 0; bi < b; bi++) {
    for (let hi = 0; hi < h; hi++) {
      const qo = (bi * h + hi) * hd;
      const base = (bi * hkv + Math.floor(hi / g)) * cap * hd;
      let max = -Infinity;
      for (let j = 0; j < tk; j++) {
        const ko = base + j * hd;
        let s = 0;
        for (let i = 0; i < hd; i++) s += (q[qo + i] as number) * (kCache[ko + i] as number);
        s = Math.fround(s) + (bias[bi * tk + j] as number);
        p[j] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let j = 0; j < tk; j++) {
        const e = Math.exp((p[j] as number) - max);
        p[j] = e;
        sum += e;
      }
      acc.fill(0);
      for (let j = 0; j < tk; j++) {
        const w = (p[j] as number) / sum;
        const vo = base + j * hd;
        for (let i = 0; i < hd; i++) acc[i] = (acc[i] as number) + w * (vCache[vo + i] as number);
      }
      for (let i = 0; i < hd; i++) out[qo + i] = acc[i] as number;
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

/** gelu_new: x sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3)) (= tanh form); gelu: 0.5 x (1 + erf(x / sqrt 2)). */
export function activationRows(x: Float32Array, fn: Activation, out: Float32Array): void {
  if (fn === 'gelu_new') {
    for (let i = 0; i < x.length; i++) {
      const v = x[i] as number;
      out[i] = v / (1 + Math.exp(-2 * GELU_C * (v + GELU_A * v * v * v)));
    }
  } else {
    for (let i = 0; i < x.length; i++) {
      const v = x[i] as number;
      out[i] = 0.5 * v * (1 + erf(v * Math.SQRT1_2));
    }
  }
}

/** SwiGLU's elementwise part: silu(gate) * up. */
export function swiGluRows(gate: Float32Array, up: Float32Array, out: Float32Array): void {
  for (let i = 0; i < gate.length; i++) {
    const g = gate[i] as number;
    out[i] = (g / (1 + Math.exp(-g))) * (up[i] as number);
  }
}
