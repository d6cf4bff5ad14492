import * as tf from '@tensorflow/tfjs-core';

/** One layer's cached keys (stored transposed, so scores are an untransposed matmul) and values. */
interface LayerCache {
  kT: tf.Tensor4D; // [B, Hkv, hd, Tk]
  v: tf.Tensor4D; // [B, Hkv, Tk, hd]
}

/**
 * Key/value cache for incremental decoding. Owned by the caller: pass the same cache to successive
 * `CausalLM.forward` calls and `dispose()` it at the end. Tensors in it survive enclosing tidies.
 */
export class KVCache {
  private layers: (LayerCache | null)[];
  private maskTensor: tf.Tensor2D | null = null; // [B, Tk] float32, 1 = real token

  constructor(readonly numLayers: number) {
    this.layers = new Array<LayerCache | null>(numLayers).fill(null);
  }

  /** Number of cached positions Tk. */
  get length(): number {
    return this.maskTensor ? this.maskTensor.shape[1] : 0;
  }

  /** Attention mask over all cached positions [B, Tk], or null when empty. */
  get mask(): tf.Tensor2D | null {
    return this.maskTensor;
  }

  /** Replaces the stored mask (the cache keeps its own reference). */
  setMask(mask: tf.Tensor2D): void {
    const old = this.maskTensor;
    this.maskTensor = tf.keep(mask);
    if (old && old !== mask) old.dispose();
  }

  /** Appends new keys [B, Hkv, hd, T] and values [B, Hkv, T, hd]; returns the full cached tensors. */
  append(layer: number, kT: tf.Tensor4D, v: tf.Tensor4D): LayerCache {
    const old = this.layers[layer];
    const next: LayerCache = old
      ? { kT: tf.keep(tf.concat([old.kT, kT], 3)), v: tf.keep(tf.concat([old.v, v], 2)) }
      : { kT: tf.keep(tf.clone(kT)), v: tf.keep(tf.clone(v)) };
    if (old) {
      old.kT.dispose();
      old.v.dispose();
    }
    this.layers[layer] = next;
    return next;
  }

  dispose(): void {
    for (const l of this.layers) {
      l?.kT.dispose();
      l?.v.dispose();
    }
    this.layers.fill(null);
    this.maskTensor?.dispose();
    this.maskTensor = null;
  }
}
