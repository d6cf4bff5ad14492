import * as tf from '@tensorflow/tfjs-core';

/** One layer's cached keys and values; new positions append whole [T, hd] blocks per (b, head). */
interface LayerCache {
  k: tf.Tensor4D; // [B, Hkv, Tk, hd]
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

  /** Appends new keys and values [B, Hkv, T, hd]; returns the full cached tensors [B, Hkv, Tk, hd]. */
  append(layer: number, k: tf.Tensor4D, v: tf.Tensor4D): LayerCache {
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

  dispose(): void {
    for (const l of this.layers) {
      l?.k.dispose();
      l?.v.dispose();
    }
    this.layers.fill(null);
    this.maskTensor?.dispose();
    this.maskTensor = null;
  }
}
