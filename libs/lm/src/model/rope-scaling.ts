import { z } from 'zod';

/**
 * RoPE frequency variants as Hugging Face transformers' ROPE_INIT_FUNCTIONS define them
 * (modeling_rope_utils.py): each returns inv_freq [d/2] and an attention factor that multiplies
 * cos and sin. `dynamic` (dynamic NTK) equals the default up to originalMaxPositions; CausalLM
 * refuses longer sequences rather than re-deriving frequencies per length.
 */
export const RopeScalingSchema = z.discriminatedUnion('type', [
  z
    .object({ type: z.literal('linear'), factor: z.number().positive() })
    .strict()
    .meta({ description: 'position interpolation: inv_freq / factor' }),
  z
    .object({
      type: z.literal('dynamic'),
      factor: z.number().positive(),
      originalMaxPositions: z.number().int().positive().meta({ description: 'length up to which dynamic NTK equals the default' }),
    })
    .strict()
    .meta({ description: 'dynamic NTK: the default frequencies until originalMaxPositions (longer sequences are refused)' }),
  z
    .object({
      type: z.literal('llama3'),
      factor: z.number().positive(),
      lowFreqFactor: z.number().positive(),
      highFreqFactor: z.number().positive(),
      originalMaxPositions: z.number().int().positive(),
    })
    .strict()
    .meta({ description: 'Llama 3.1: low frequencies divided by factor, high kept, a smooth ramp between' }),
  z
    .object({
      type: z.literal('yarn'),
      factor: z.number().positive(),
      originalMaxPositions: z.number().int().positive(),
      attentionFactor: z.number().positive().nullable().default(null).meta({ description: 'null = 0.1 ln(factor) + 1 (or the mscale ratio)' }),
      betaFast: z.number().positive().default(32),
      betaSlow: z.number().positive().default(1),
      mscale: z.number().nullable().default(null),
      mscaleAllDim: z.number().nullable().default(null),
      truncate: z.boolean().default(true),
    })
    .strict()
    .meta({ description: 'YaRN (arXiv 2309.00071): NTK-by-parts interpolation plus an attention factor' }),
]);
export type RopeScaling = z.infer<typeof RopeScalingSchema>;

export interface RopeFrequencies {
  /** [d/2] */
  invFreq: Float32Array;
  /** multiplies cos and sin (YaRN); 1 otherwise */
  attentionScaling: number;
}

/** Default RoPE: inv_freq[i] = theta^(-2i/d). Computed in float64, stored as float32. */
function defaultInvFreq(dim: number, theta: number): Float64Array {
  const out = new Float64Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) out[i] = 1 / Math.pow(theta, (2 * i) / dim);
  return out;
}

/** Llama 3.1 frequency-dependent scaling (transformers _compute_llama3_parameters). */
function llama3InvFreq(base: Float64Array, s: Extract<RopeScaling, { type: 'llama3' }>): Float64Array {
  const lowWavelen = s.originalMaxPositions / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositions / s.highFreqFactor;
  return base.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen > lowWavelen) return f / s.factor; // low frequencies: interpolate
    if (wavelen < highWavelen) return f; // high frequencies: keep
    const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    return ((1 - smooth) * f) / s.factor + smooth * f;
  });
}

const yarnMscale = (scale: number, m = 1): number => (scale <= 1 ? 1 : 0.1 * m * Math.log(scale) + 1);

/** YaRN (transformers _compute_yarn_parameters): a linear ramp between interpolated and extrapolated frequencies. */
function yarnFrequencies(dim: number, theta: number, s: Extract<RopeScaling, { type: 'yarn' }>): RopeFrequencies {
  const correctionDim = (rotations: number): number =>
    (dim * Math.log(s.originalMaxPositions / (rotations * 2 * Math.PI))) / (2 * Math.log(theta));
  let low = correctionDim(s.betaFast);
  let high = correctionDim(s.betaSlow);
  if (s.truncate) {
    low = Math.floor(low);
    high = Math.ceil(high);
  }
  low = Math.max(low, 0);
  high = Math.min(high, dim - 1);
  if (low === high) high += 0.001; // as transformers: avoid a zero-width ramp
  const base = defaultInvFreq(dim, theta);
  const invFreq = new Float32Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) {
    const ramp = Math.min(1, Math.max(0, (i - low) / (high - low)));
    const extrapolation = 1 - ramp; // weight of the unscaled frequency
    invFreq[i] = (base[i]! / s.factor) * (1 - extrapolation) + base[i]! * extrapolation;
  }
  let attentionScaling = s.attentionFactor;
  if (attentionScaling === null) {
    attentionScaling = s.mscale && s.mscaleAllDim ? yarnMscale(s.factor, s.mscale) / yarnMscale(s.factor, s.mscaleAllDim) : yarnMscale(s.factor);
  }
  return { invFreq, attentionScaling };
}

/** inv_freq and attention factor of a rotary config (theta, optional scaling) for head dim `dim`. */
export function ropeFrequencies(dim: number, theta: number, scaling: RopeScaling | null): RopeFrequencies {
  if (dim % 2 !== 0) throw new Error(`rotary embeddings need an even head dim, got ${dim}`);
  const base = defaultInvFreq(dim, theta);
  if (!scaling || scaling.type === 'dynamic') return { invFreq: Float32Array.from(base), attentionScaling: 1 };
  if (scaling.type === 'linear') return { invFreq: Float32Array.from(base, (f) => f / scaling.factor), attentionScaling: 1 };
  if (scaling.type === 'llama3') return { invFreq: Float32Array.from(llama3InvFreq(base, scaling)), attentionScaling: 1 };
  return yarnFrequencies(dim, theta, scaling);
}
