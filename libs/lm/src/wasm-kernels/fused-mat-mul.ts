import * as tf from '@tensorflow/tfjs-core';
import { batchMatMul, isLargeWeight } from './batch-mat-mul';
import { callOriginal } from './original-kernels';
import { transposeLastTwo } from './transpose';
import { asWasmBackend } from './wasm-backend';

/**
 * _FusedMatMul (tf.fused.matMul: matmul + bias + activation) on wasm. tfjs-core hands it rank-3
 * inputs. Transposed operands are transposed explicitly and a shared right operand folds a's batch
 * into rows, so the stock kernel always sees its XNNPACK case (untransposed, batch 1) when it can.
 * A large batch-1 weight without activation (k * n >= LARGE_WEIGHT_FLOATS) goes through
 * BatchMatMul's SIMD GEMM route instead (no packed copy of it), then the stock Add for the bias.
 */
export function fusedMatMulKernel(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = asWasmBackend(args.backend);
  const { a, b, bias, preluActivationWeights } = args.inputs;
  const attrs = args.attrs ?? {};
  const transposeA = Boolean(attrs['transposeA']);
  const transposeB = Boolean(attrs['transposeB']);
  if (!a || !b || a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length !== 3 || b.shape.length !== 3) {
    return callOriginal('_FusedMatMul', args.inputs, backend, attrs);
  }
  const activation = attrs['activation'] ?? 'linear';
  const [kB, nB] = transposeB ? [b.shape[2]!, b.shape[1]!] : [b.shape[1]!, b.shape[2]!];
  if (b.shape[0] === 1 && isLargeWeight(kB, nB) && activation === 'linear' && !preluActivationWeights) {
    const product = batchMatMul(backend, a, b, transposeA, transposeB); // [batchA, m, n]
    if (!bias) return product;
    try {
      return callOriginal('Add', { a: product, b: bias }, backend);
    } finally {
      backend.disposeData(product.dataId);
    }
  }
  const aU = transposeA ? transposeLastTwo(backend, a) : a; // [batchA, m, k]
  const bU = transposeB ? transposeLastTwo(backend, b) : b; // [batchB, k, n]
  const [batchA, m, k] = aU.shape as [number, number, number];
  const n = bU.shape[2]!;
  const fold = bU.shape[0] === 1 && batchA > 1;
  const aIn = fold ? { ...aU, shape: [1, batchA * m, k] } : aU;
  const inputs: tf.NamedTensorInfoMap = { a: aIn, b: bU };
  if (bias) inputs['bias'] = bias;
  if (preluActivationWeights) inputs['preluActivationWeights'] = preluActivationWeights;
  try {
    const out = callOriginal('_FusedMatMul', inputs, backend, { ...attrs, transposeA: false, transposeB: false });
    return fold ? { ...out, shape: [batchA, m, n] } : out;
  } finally {
    if (aU !== a) backend.disposeData(aU.dataId);
    if (bU !== b) backend.disposeData(bU.dataId);
  }
}
