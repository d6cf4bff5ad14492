import * as tf from '@tensorflow/tfjs-core';

// Pure building blocks. Activations are 2-D [N, D] (N = B*T) so every matmul is an untransposed
// 2-D matmul against a weight stored [in, out] (the fast path on wasm/XNNPACK).

/** x [N, in] @ w [in, out] (+ b [out]) -> [N, out]. The bias add is fused into the matmul kernel. */
export function linear(x: tf.Tensor2D, w: tf.Tensor2D, b?: tf.Tensor1D): tf.Tensor2D {
  return b ? (tf.fused.matMul({ a: x, b: w, bias: b }) as tf.Tensor2D) : tf.matMul(x, w);
}

/**
 * LayerNorm over the last axis with gain and bias (GPT-2). x [N, D]. Written out with its closed-form
 * gradient (tf.customGrad) so a training step runs ~10 kernels per norm instead of ~30 from autodiff:
 *   xhat = (x - mean) * rstd,  rstd = 1 / sqrt(var + eps)
 *   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),  g = dy * gamma
 *   dgamma = sum_N(dy * xhat),  dbeta = sum_N(dy)
 */
export function layerNorm(x: tf.Tensor2D, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): tf.Tensor2D {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, gIn, bIn, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const xc = tf.sub(xIn, tf.mean(xIn, -1, true)); // [N, D]
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(xc), -1, true), eps)); // [N, 1]
    const xhat = tf.mul(xc, rstd);
    save([xhat, rstd, gIn]);
    return {
      value: tf.add(tf.mul(xhat, gIn), bIn),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sxhat, srstd, sg] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const g = tf.mul(dy, sg); // [N, D]
        const inner = tf.sub(tf.sub(g, tf.mean(g, -1, true)), tf.mul(sxhat, tf.mean(tf.mul(g, sxhat), -1, true)));
        return [tf.mul(inner, srstd), tf.sum(tf.mul(dy, sxhat), 0), tf.sum(dy, 0)];
      },
    };
  });
  return f(x, gamma, beta) as tf.Tensor2D;
}

/** RMSNorm over the last axis (Llama/Qwen2, arXiv 1910.07467). x [N, D]. */
export function rmsNorm(x: tf.Tensor2D, gamma: tf.Tensor1D, eps: number): tf.Tensor2D {
  const ms = tf.mean(tf.square(x), -1, true); // [N, 1]
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, eps))), gamma);
}

const GELU_C = Math.sqrt(2 / Math.PI);
const GELU_A = 0.044715;

/**
 * GELU, tanh approximation ("gelu_new" in Hugging Face GPT-2, arXiv 1606.08415):
 *   0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)
 * computed through the exact identity 0.5 (1 + tanh(u)) = sigmoid(2u) (same function, not the
 * 1.702x sigmoid approximation), with its closed-form gradient:
 *   y = x s,  s = sigmoid(2u),  dy/dx = s + y (1 - s) 2u',  2u' = 2 sqrt(2/pi) (1 + 3 * 0.044715 x^2)
 */
export function geluNew<T extends tf.Tensor>(x: T): T {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const x2 = tf.mul(xIn, xIn);
    const s = tf.sigmoid(tf.mul(xIn, tf.add(tf.mul(x2, 2 * GELU_C * GELU_A), 2 * GELU_C))); // sigmoid(2u)
    const y = tf.mul(xIn, s);
    save([x2, s, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx2, ss, sy] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const du2 = tf.add(tf.mul(sx2, 6 * GELU_C * GELU_A), 2 * GELU_C); // 2u'
        return tf.mul(dy, tf.add(ss, tf.mul(tf.mul(sy, tf.sub(1, ss)), du2)));
      },
    };
  });
  return f(x) as T;
}

/** Exact GELU ("gelu" in Hugging Face, torch's default): 0.5 x (1 + erf(x / sqrt 2)); tfjs differentiates erf. */
export function gelu<T extends tf.Tensor>(x: T): T {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}

/** SiLU / swish: x * sigmoid(x). */
export function silu<T extends tf.Tensor>(x: T): T {
  return tf.mul(x, tf.sigmoid(x));
}
