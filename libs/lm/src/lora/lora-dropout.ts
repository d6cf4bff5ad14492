import { hashString } from '../generation/rng';

/**
 * Train mode of a forward pass (PEFT's module.train()): LoRA adapters apply dropout to their input.
 * The masks are a pure function of (seed, module, absolute row, position, feature), so a step draws
 * the same masks whatever its micro-batch split, padding or thread count, and a resumed run draws
 * what an uninterrupted one would. The caller folds step and iteration into `seed`.
 */
export interface TrainingMode {
  /** Seed of this forward's masks (e.g. derived from the stage seed, step and iteration). */
  seed: number;
  /** Absolute index of the batch's first row in the step's batch (micro-batch offset). */
  rowOffset: number;
}

/** Per-forward context of the masks: rows and positions of the N = B * T flattened tokens. */
export interface DropoutRows {
  seed: number;
  /** Absolute row of each flattened token, length N. */
  rows: Int32Array;
  /** Position id of each flattened token (padding-independent), length N. */
  positions: Int32Array;
}

/** murmur3's 32-bit finalizer: a bijective avalanche mix. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

/**
 * The inverted-dropout mask of one adapted module (as torch.nn.Dropout: kept entries scaled by
 * 1 / (1 - p), dropped ones 0), [N, inDim] row-major. Entry (n, f) is kept when a 32-bit hash of
 * (seed, module, rows[n], positions[n], f) is at least p * 2^32.
 */
export function loraDropoutMask(p: number, module: string, ctx: DropoutRows, inDim: number): Float32Array {
  if (!(p >= 0 && p < 1)) throw new Error(`loraDropoutMask: p ${p} must be in [0, 1)`);
  const n = ctx.rows.length;
  if (ctx.positions.length !== n) throw new Error(`loraDropoutMask: ${ctx.positions.length} positions for ${n} rows`);
  const out = new Float32Array(n * inDim);
  const keep = 1 / (1 - p);
  const threshold = p * 4294967296;
  const moduleKey = fmix32((ctx.seed ^ Math.imul(hashString(module), 0x9e3779b1)) | 0);
  for (let i = 0; i < n; i++) {
    const rowKey = fmix32((moduleKey + Math.imul(ctx.rows[i]! + 1, 0x85ebca77)) | 0);
    const tokenKey = fmix32((rowKey ^ Math.imul(ctx.positions[i]! + 1, 0xc2b2ae3d)) | 0);
    const base = i * inDim;
    for (let f = 0; f < inDim; f++) {
      const u = fmix32((tokenKey + Math.imul(f + 1, 0x27d4eb2f)) | 0) >>> 0;
      out[base + f] = u >= threshold ? keep : 0;
    }
  }
  return out;
}
