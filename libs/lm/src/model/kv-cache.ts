import * as tf from '@tensorflow/tfjs-core';
import { inPlaceBackend, liveF32OfTensor } from './tensor-memory';

/** One layer's cached keys and values [B, Hkv, Tk, hd] (in-place buffers: see KVCache.buffers). */
interface LayerCache {
  k: tf.Tensor4D;
  v: tf.Tensor4D;
}

export interface KVCacheOptions {
  /**
   * Positions to preallocate (prompt + new tokens); the buffers grow (doubling) past it. Default:
   * the first call's length, doubled as needed.
   */
  capacity?: number;
  /**
   * Decoding fast path (default true; used only on the wasm and cpu backends): keys and values are
   * written in place into preallocated [B, Hkv, capacity, hd] buffers instead of concatenated, and
   * CausalLM runs 1-token steps through the fused kernels (decode-kernels.ts). false keeps the plain
   * tfjs op chains and a concatenated cache (the reference the fused path is tested against).
   */
  fused?: boolean;
}

interface Derived {
  source: tf.Tensor;
  dataId: object;
  value: tf.Tensor;
}

/**
 * Key/value cache for incremental decoding. Owned by the caller: pass the same cache to successive
 * `CausalLM.forward` calls and `dispose()` it at the end. Tensors in it survive enclosing tidies.
 */
export class KVCache {
  /** With `fused`: the buffers (keys [B, Hkv, hd, capacity], values [B, Hkv, capacity, hd]); else [B, Hkv, Tk, hd] each. */
  private layers: (LayerCache | null)[];
  private maskTensor: tf.Tensor2D | null = null; // [B, Tk] float32, 1 = real token
  private maskHost: Float32Array | null = null; // its values on the host, when known
  private readonly derivedValues = new Map<string, Derived>();
  /** True when this cache writes in place and CausalLM may use the fused decoding kernels. */
  readonly fused: boolean;
  private readonly initialCapacity: number;

  constructor(
    readonly numLayers: number,
    opts: KVCacheOptions = {},
  ) {
    this.layers = new Array<LayerCache | null>(numLayers).fill(null);
    this.fused = opts.fused !== false && inPlaceBackend() !== null;
    this.initialCapacity = opts.capacity ?? 0;
    if (!Number.isInteger(this.initialCapacity) || this.initialCapacity < 0) {
      throw new Error(`KVCache: capacity must be a non-negative integer, got ${opts.capacity}`);
    }
  }

  /** Number of cached positions Tk. */
  get length(): number {
    return this.maskTensor ? this.maskTensor.shape[1] : 0;
  }

  /** Attention mask over all cached positions [B, Tk], or null when empty. */
  get mask(): tf.Tensor2D | null {
    return this.maskTensor;
  }

  /**
   * Replaces the stored mask (the cache keeps its own reference). Call before the layers append.
   * `values`: the mask's values when the caller has them on the host (spares a read-back per step).
   */
  setMask(mask: tf.Tensor2D, values?: Float32Array): void {
    const old = this.maskTensor;
    this.maskTensor = tf.keep(mask);
    this.maskHost = values ?? null;
    if (old && old !== mask) old.dispose();
  }

  /** The stored mask's values [B * Tk] on the host (read once, then kept), or null when empty. */
  maskValues(): Float32Array | null {
    if (!this.maskTensor) return null;
    this.maskHost ??= this.maskTensor.dataSync() as Float32Array;
    return this.maskHost;
  }

  /**
   * Stores new keys and values [B, Hkv, T, hd] at positions length - T .. length - 1 (setMask has
   * already counted them); returns the cached tensors over all Tk = length positions [B, Hkv, Tk, hd]
   * (owned by the caller's tidy when fused).
   */
  append(layer: number, k: tf.Tensor4D, v: tf.Tensor4D): LayerCache {
    if (!this.fused) return this.concatAppend(layer, k, v);
    const tk = this.length;
    const t = k.shape[2];
    const [b, hkv, , hd] = k.shape;
    const buf = this.buffers(layer, b, hkv, hd);
    writeKeys(buf.k, k, tk - t);
    writeValues(buf.v, v, tk - t);
    if (tk === t) return { k, v };
    const keys = tf.transpose(tf.slice(buf.k, [0, 0, 0, 0], [-1, -1, -1, tk]), [0, 1, 3, 2]) as tf.Tensor4D; // [B, Hkv, Tk, hd]
    return { k: keys, v: tf.slice(buf.v, [0, 0, 0, 0], [-1, -1, tk, -1]) };
  }

  /**
   * The in-place buffers of a layer, allocated or grown here (only when `fused`) to hold `length`
   * positions: keys transposed [B, Hkv, hd, capacity] (q k^T then reads contiguous key rows: a plain
   * GEMM q [G, hd] @ k [hd, Tk] per kv head), values [B, Hkv, capacity, hd]. The fused attention
   * kernel writes the newest position itself.
   */
  buffers(layer: number, b: number, hkv: number, hd: number): LayerCache {
    if (!this.fused) throw new Error('KVCache.buffers: this cache is not fused (in-place buffers exist only with fused: true on wasm/cpu)');
    const need = this.length;
    const old = this.layers[layer];
    if (old && old.v.shape[2] >= need) {
      if (old.v.shape[0] !== b || old.v.shape[1] !== hkv || old.v.shape[3] !== hd) {
        throw new Error(`KVCache: layer ${layer} holds values [${old.v.shape.join(', ')}] but got batch ${b}, ${hkv} kv heads of ${hd}; use one cache per batch`);
      }
      return old;
    }
    const cap = Math.max(need, this.initialCapacity, old ? 2 * old.v.shape[2] : 0);
    const next: LayerCache = { k: tf.keep(tf.zeros([b, hkv, hd, cap])), v: tf.keep(tf.zeros([b, hkv, cap, hd])) };
    if (old) {
      copyKeyPrefix(next.k, old.k, old.v.shape[2]);
      copyValuePrefix(next.v, old.v, old.v.shape[2]);
      old.k.dispose();
      old.v.dispose();
    }
    this.layers[layer] = next;
    return next;
  }

  /**
   * A tensor derived from `source` (e.g. the transposed tied head), made once per cache and remade
   * when `source` changes (a Variable's assign gives it new data). Disposed with the cache.
   */
  derived(key: string, source: tf.Tensor, make: () => tf.Tensor): tf.Tensor {
    const d = this.derivedValues.get(key);
    if (d && d.source === source && d.dataId === source.dataId && !d.value.isDisposed) return d.value;
    d?.value.dispose();
    const value = tf.keep(tf.tidy(make));
    this.derivedValues.set(key, { source, dataId: source.dataId, value });
    return value;
  }

  /** Whether a derived tensor `key` is held (and not disposed). */
  hasDerived(key: string): boolean {
    const d = this.derivedValues.get(key);
    return d !== undefined && !d.value.isDisposed;
  }

  dispose(): void {
    for (const l of this.layers) {
      l?.k.dispose();
      l?.v.dispose();
    }
    this.layers.fill(null);
    this.maskTensor?.dispose();
    this.maskTensor = null;
    this.maskHost = null;
    for (const d of this.derivedValues.values()) d.value.dispose();
    this.derivedValues.clear();
  }

  private concatAppend(layer: number, k: tf.Tensor4D, v: tf.Tensor4D): LayerCache {
    const old = this.layers[layer];
    const next: LayerCache = old
      ? { k: tf.keep(tf.concat([old.k, k], 2)), v: tf.keep(tf.concat([old.v, v], 2)) }
      : { k: tf.keep(tf.clone(k)), v: tf.keep(tf.clone(v)) };
    if (old) {
      old.k.dispose();
      old.v.dispose();
    }
    this.layers[layer] = next;
    return next;
  }
}

/** values buf [B, Hkv, cap, hd] positions pos .. pos + T - 1 <- src [B, Hkv, T, hd], in place. */
function writeValues(buf: tf.Tensor4D, src: tf.Tensor4D, pos: number): void {
  const [b, hkv, t, hd] = src.shape;
  const cap = buf.shape[2];
  const s = liveF32OfTensor(src);
  const dst = liveF32OfTensor(buf);
  for (let bh = 0; bh < b * hkv; bh++) dst.set(s.subarray(bh * t * hd, (bh + 1) * t * hd), (bh * cap + pos) * hd);
}

/** keys buf [B, Hkv, hd, cap] columns pos .. pos + T - 1 <- src [B, Hkv, T, hd] transposed, in place. */
function writeKeys(buf: tf.Tensor4D, src: tf.Tensor4D, pos: number): void {
  const [b, hkv, t, hd] = src.shape;
  const cap = buf.shape[3];
  const s = liveF32OfTensor(src);
  const dst = liveF32OfTensor(buf);
  for (let bh = 0; bh < b * hkv; bh++) {
    for (let j = 0; j < t; j++) {
      const from = (bh * t + j) * hd;
      for (let i = 0; i < hd; i++) dst[(bh * hd + i) * cap + pos + j] = s[from + i]!;
    }
  }
}

/** The first `n` positions of values `from` [B, Hkv, capFrom, hd] into `to` [B, Hkv, capTo, hd]. */
function copyValuePrefix(to: tf.Tensor4D, from: tf.Tensor4D, n: number): void {
  const [b, hkv, capFrom, hd] = from.shape;
  const capTo = to.shape[2];
  const s = liveF32OfTensor(from);
  const dst = liveF32OfTensor(to);
  for (let bh = 0; bh < b * hkv; bh++) dst.set(s.subarray(bh * capFrom * hd, (bh * capFrom + n) * hd), bh * capTo * hd);
}

/** The first `n` positions of keys `from` [B, Hkv, hd, capFrom] into `to` [B, Hkv, hd, capTo]. */
function copyKeyPrefix(to: tf.Tensor4D, from: tf.Tensor4D, n: number): void {
  const [b, hkv, hd, capFrom] = from.shape;
  const capTo = to.shape[3];
  const s = liveF32OfTensor(from);
  const dst = liveF32OfTensor(to);
  for (let row = 0; row < b * hkv * hd; row++) dst.set(s.subarray(row * capFrom, row * capFrom + n), row * capTo);
}
