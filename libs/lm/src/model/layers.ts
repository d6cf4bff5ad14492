import * as tf from '@tensorflow/tfjs-core';

// Pure building blocks. Activations are 2-D [N, D] (N = B*T) so every matmul is an untransposed
// 2-D matmul against a weight stored [in, out] (the fast path on wasm/XNNPACK).

/** x [N, in] @ w [in, out] (+ b [out]) -> [N, out]. */
export function linear(x: tf.Tensor2D, w: tf.Tensor2D, b?: tf.Tensor1D): tf.Tensor2D {
  const y: tf.Tensor2D = tf.matMul(x, w);
  return b ? (tf.add(y, b) as tf.Tensor2D) : y;
}

/** LayerNorm over the last axis with gain and bias (GPT-2). x [N, D]. */
export function layerNorm(x: tf.Tensor2D, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): tf.Tensor2D {
  const { mean, variance } = tf.moments(x, -1, true); // [N, 1]
  const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
  return tf.add(tf.mul(normed, gamma), beta);
}

/** RMSNorm over the last axis (Llama/Qwen2, arXiv 1910.07467). x [N, D]. */
export function rmsNorm(x: tf.Tensor2D, gamma: tf.Tensor1D, eps: number): tf.Tensor2D {
  const ms = tf.mean(tf.square(x), -1, true); // [N, 1]
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, eps))), gamma);
}

const GELU_C = Math.sqrt(2 / Math.PI);

/** GELU, tanh approximation ("gelu_new" in Hugging Face GPT-2, arXiv 1606.08415). */
export function geluNew<T extends tf.Tensor>(x: T): T {
  const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), GELU_C);
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
}

/** SiLU / swish: x * sigmoid(x). */
export function silu<T extends tf.Tensor>(x: T): T {
  return tf.mul(x, tf.sigmoid(x));
}
