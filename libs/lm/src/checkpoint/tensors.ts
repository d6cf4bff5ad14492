import * as tf from '@tensorflow/tfjs-core';
import type { RawTensor } from './safetensors';

/** Host tensors -> tfjs tensors (float32 / int32). The caller disposes the result. */
export function rawToTf(raw: ReadonlyMap<string, RawTensor>): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>();
  for (const [name, t] of raw) out.set(name, tf.tensor(t.data, t.shape, t.data instanceof Int32Array ? 'int32' : 'float32'));
  return out;
}

/** tfjs tensors -> host tensors (bool/int32 stay int32, everything else float32). Does not dispose the input. */
export async function tfToRaw(tensors: ReadonlyMap<string, tf.Tensor>): Promise<Map<string, RawTensor>> {
  const out = new Map<string, RawTensor>();
  for (const [name, t] of tensors) {
    const data = t.dtype === 'int32' || t.dtype === 'bool' ? Int32Array.from(await t.data()) : Float32Array.from(await t.data());
    out.set(name, { shape: [...t.shape], data });
  }
  return out;
}
