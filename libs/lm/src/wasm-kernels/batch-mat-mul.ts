import * as tf from '@tensorflow/tfjs-core';
import { simdGemm } from './simd-gemm';
import { transposeLastTwo } from './transpose';
import {
  asWasmBackend,
  byteOffset,
  heapF32,
  makeView,
  releaseView,
  tensorId,
  xnnMatMul,
  type WasmBackend,
} from './wasm-backend';

/**
 * BatchMatMul on wasm. The stock kernel runs XNNPACK only for untransposed batch-1 products and a
 * scalar triple loop otherwise (10-30x slower; every matMul gradient is transposed). Here:
 *  1. transposed operands are transposed explicitly (C++ Transpose, rank 3 fast path);
 *  2. a shared right operand (b batch 1) folds a's batch into rows: one XNNPACK call;
 *  3. otherwise one XNNPACK call per batch entry on zero-copy views of the operands;
 *  4. except for small batch entries (attention, <= SIMD_GEMM_MAX_MACS multiply-adds each): there
 *     one XNNPACK call costs ~10 us of operator setup and packing per entry, so a generated wasm
 *     SIMD GEMM (simd-gemm.ts) runs on the heap instead: no packing, transposed a read in place;
 *  5. and weight gradients x^T dy (transposed a, k >> m, n): XNNPACK would pack the activation dy
 *     [k, n] as weights on every call (~7 ns per float, as long as the product itself), so they run
 *     in the SIMD GEMM too, reading x^T in place;
 *  6. and products with a large shared right operand (batch-1 b of k * n >= LARGE_WEIGHT_FLOATS):
 *     XNNPACK keeps a packed copy of every right operand it multiplies by (cached on the weight's id),
 *     which doubles a real-size model's heap (Qwen2.5-0.5B: +1.9 GB, past wasm's 4 GiB), and would
 *     re-pack a transposed weight (a tied head's wte^T, 136M floats) on every call. See
 *     runLargeWeightGemm.
 */
export function batchMatMulKernel(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = asWasmBackend(args.backend);
  const a = args.inputs['a']!;
  const b = args.inputs['b']!;
  const transposeA = Boolean(args.attrs?.['transposeA']);
  const transposeB = Boolean(args.attrs?.['transposeB']);
  return batchMatMul(backend, a, b, transposeA, transposeB);
}

export interface MatMulPlan {
  m: number;
  k: number;
  n: number;
  outShape: number[];
  /** For each output batch entry, the batch entry of a and of b it reads (broadcasting). */
  aIndex: Int32Array;
  bIndex: Int32Array;
  batchA: number;
  batchB: number;
}

/** Shapes and broadcast index maps of a (possibly transposed, batched) matMul. */
export function planMatMul(aShape: number[], bShape: number[], transposeA: boolean, transposeB: boolean): MatMulPlan {
  const ar = aShape.length;
  const br = bShape.length;
  if (ar < 2 || br < 2) throw new Error(`libs/lm/src/wasm-kernels BatchMatMul: inputs must have rank >= 2, got a [${aShape}] and b [${bShape}]`);
  const m = transposeA ? aShape[ar - 1]! : aShape[ar - 2]!;
  const k = transposeA ? aShape[ar - 2]! : aShape[ar - 1]!;
  const kb = transposeB ? bShape[br - 1]! : bShape[br - 2]!;
  const n = transposeB ? bShape[br - 2]! : bShape[br - 1]!;
  if (k !== kb) {
    throw new Error(
      `Error in matMul: inner shapes (${k}) and (${kb}) of Tensors with shapes ${aShape} and ${bShape} and transposeA=${transposeA} and transposeB=${transposeB} must match.`,
    );
  }
  const aBatchShape = aShape.slice(0, -2);
  const bBatchShape = bShape.slice(0, -2);
  const batchShape = tf.broadcast_util.assertAndGetBroadcastShape(aBatchShape, bBatchShape);
  return {
    m,
    k,
    n,
    outShape: [...batchShape, m, n],
    aIndex: broadcastIndex(batchShape, aBatchShape),
    bIndex: broadcastIndex(batchShape, bBatchShape),
    batchA: tf.util.sizeFromShape(aBatchShape),
    batchB: tf.util.sizeFromShape(bBatchShape),
  };
}

/** Flat index into `inShape` (right-aligned, size-1 axes broadcast) for each flat index of `outShape`. */
export function broadcastIndex(outShape: number[], inShape: number[]): Int32Array {
  const size = tf.util.sizeFromShape(outShape);
  const result = new Int32Array(size);
  const rank = outShape.length;
  const offset = rank - inShape.length;
  const inStrides = new Array<number>(rank).fill(0);
  let s = 1;
  for (let i = inShape.length - 1; i >= 0; i--) {
    inStrides[i + offset] = inShape[i] === 1 ? 0 : s;
    s *= inShape[i]!;
  }
  for (let flat = 0; flat < size; flat++) {
    let rem = flat;
    let idx = 0;
    for (let ax = rank - 1; ax >= 0; ax--) {
      const d = outShape[ax]!;
      idx += (rem % d) * inStrides[ax]!;
      rem = Math.floor(rem / d);
    }
    result[flat] = idx;
  }
  return result;
}

export function batchMatMul(backend: WasmBackend, a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean): tf.TensorInfo {
  if (a.dtype !== 'float32' || b.dtype !== 'float32') {
    throw new Error(`libs/lm/src/wasm-kernels BatchMatMul: only float32 is supported on wasm, got ${a.dtype} x ${b.dtype}; cast the inputs first`);
  }
  const plan = planMatMul(a.shape, b.shape, transposeA, transposeB);
  const { m, k, n } = plan;
  if (plan.aIndex.length * m * n > 0 && k > 0 && useLargeWeightGemm(plan, transposeA, transposeB)) {
    const routed = runLargeWeightGemm(backend, a, b, plan, transposeA, transposeB);
    if (routed) return routed;
  }
  const out = backend.makeOutput(plan.outShape, 'float32');
  if (plan.aIndex.length * m * n > 0 && k > 0 && useSimdGemm(plan, transposeA)) {
    const bU = transposeB ? transposeLastTwo(backend, b) : b; // [batchB, k, n]
    try {
      if (simdGemmFits(backend, bU)) {
        runSimdGemm(backend, a, bU, out, plan, transposeA);
        return out;
      }
    } finally {
      if (bU !== b) backend.disposeData(bU.dataId);
    }
  }
  const batch = plan.aIndex.length;
  if (batch * m * n === 0) return out;
  if (k === 0) {
    heapF32(backend, out).fill(0);
    return out;
  }
  const aU = transposeA ? transposeLastTwo(backend, a) : a; // [batchA, m, k]
  const bU = transposeB ? transposeLastTwo(backend, b) : b; // [batchB, k, n]
  try {
    if (plan.batchB === 1) {
      // b shared by every batch entry: a's batch folds into rows, out [batch*m, n] is contiguous.
      xnnMatMul(backend, tensorId(backend, aU), tensorId(backend, bU), tensorId(backend, out), plan.batchA * m, k, n);
    } else {
      loopXnn(backend, aU, bU, out, plan);
    }
  } finally {
    if (aU !== a) backend.disposeData(aU.dataId);
    if (bU !== b) backend.disposeData(bU.dataId);
  }
  return out;
}

/** Multiply-adds per batch entry up to which batched products run in the SIMD GEMM, not XNNPACK. */
export const SIMD_GEMM_MAX_MACS = 1 << 18;

/**
 * Right operands (batch 1) of at least this many floats run in the SIMD GEMM, so XNNPACK never holds
 * a packed copy of them. 2^20 floats (4 MB): the embedded model's weights (<= 96 x 384) and a
 * Qwen2.5-0.5B layer's q / o projections (896 x 896) stay on XNNPACK; its MLP (896 x 4864) and the
 * tied head (896 x 151936) move.
 */
export const LARGE_WEIGHT_FLOATS = 1 << 20;

/**
 * Which products go to the SIMD GEMM (switches for benchmarks and tests; all on by default), and the
 * large-weight threshold (tests lower it to check the route on small odd shapes).
 */
export const simdGemmRouting = { batched: true, weightGrad: true, largeWeight: true, largeWeightFloats: LARGE_WEIGHT_FLOATS };

/** True if a batch-1 right operand of k x n floats takes the large-weight route. */
export function isLargeWeight(k: number, n: number): boolean {
  return simdGemmRouting.largeWeight && k * n >= simdGemmRouting.largeWeightFloats;
}

/** A batch-1 large right operand (a transposed a only with one batch entry). */
function useLargeWeightGemm(plan: MatMulPlan, transposeA: boolean, transposeB: boolean): boolean {
  if (plan.batchB !== 1 || !isLargeWeight(plan.k, plan.n)) return false;
  return !(transposeA && transposeB && plan.aIndex.length > 1);
}

/**
 * out = a @ b for a large batch-1 b, without packing or copying b (returns null if the heap has no
 * room for the GEMM's 16-byte over-read; the caller falls back to XNNPACK).
 *  - b untransposed [k, n]: one GEMM over all M = batch * m rows of a (x W, and a tied head's
 *    backward dY wte), or one per batch entry with a transposed a read in place;
 *  - b transposed (b stored [n, k]: dX = dY W^T, a tied head x wte^T): out^T [n, M] = b a^T as a GEMM
 *    whose left operand is b in place and right operand a^T [k, M] (a transposed copy of the
 *    activation, or a itself when transposeA), then out^T is transposed back (activation-sized).
 */
function runLargeWeightGemm(
  backend: WasmBackend,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  plan: MatMulPlan,
  transposeA: boolean,
  transposeB: boolean,
): tf.TensorInfo | null {
  const { m, k, n } = plan;
  const batch = plan.aIndex.length; // = batchA (b has batch 1)
  const rows = batch * m;
  if (!transposeB) {
    if (!simdGemmFits(backend, b)) return null;
    const out = backend.makeOutput(plan.outShape, 'float32'); // [rows, n]
    if (!transposeA) {
      simdGemm(backend.wasm.asm.memory, { m: rows, n, k, rsA: k, csA: 1, ldb: n })(byteOffset(backend, a), byteOffset(backend, b), byteOffset(backend, out));
    } else {
      const gemm = simdGemm(backend.wasm.asm.memory, { m, n, k, rsA: 1, csA: m, ldb: n });
      const aBase = byteOffset(backend, a);
      const bBase = byteOffset(backend, b);
      const outBase = byteOffset(backend, out);
      for (let i = 0; i < batch; i++) gemm(aBase + i * m * k * 4, bBase, outBase + i * m * n * 4);
    }
    return out;
  }
  // a^T [k, rows]: a stored [k, m] when transposeA (batch 1), else a transposed copy of a as [rows, k].
  const aT = transposeA ? a : transposeLastTwo(backend, { ...a, shape: [1, rows, k] });
  const outT = backend.makeOutput([1, n, rows], 'float32'); // out^T
  try {
    if (!simdGemmFits(backend, aT)) {
      backend.disposeData(outT.dataId);
      return null;
    }
    simdGemm(backend.wasm.asm.memory, { m: n, n: rows, k, rsA: k, csA: 1, ldb: rows })(byteOffset(backend, b), byteOffset(backend, aT), byteOffset(backend, outT));
  } finally {
    if (aT !== a) backend.disposeData(aT.dataId);
  }
  const out = transposeLastTwo(backend, outT); // [1, rows, n]
  backend.disposeData(outT.dataId);
  return { ...out, shape: plan.outShape };
}

/** Batched small products, and weight gradients (transposed a, batch 1, k at least 8x m and n). */
function useSimdGemm(plan: MatMulPlan, transposeA: boolean): boolean {
  const { m, k, n } = plan;
  if (plan.batchB > 1) return simdGemmRouting.batched && m * k * n <= SIMD_GEMM_MAX_MACS;
  return simdGemmRouting.weightGrad && transposeA && plan.aIndex.length === 1 && k >= 8 * Math.max(m, n);
}

/** The SIMD GEMM may read up to 3 floats past b's data: keep it inside the heap. */
function simdGemmFits(backend: WasmBackend, bU: tf.TensorInfo): boolean {
  const end = byteOffset(backend, bU) + tf.util.sizeFromShape(bU.shape) * 4 + 16;
  return end <= backend.wasm.asm.memory.buffer.byteLength;
}

/** out[i] = a[aIndex[i]] (transposed in place if transposeA) @ bU[bIndex[i]], one GEMM call per entry. */
function runSimdGemm(backend: WasmBackend, a: tf.TensorInfo, bU: tf.TensorInfo, out: tf.TensorInfo, plan: MatMulPlan, transposeA: boolean): void {
  const { m, k, n, aIndex, bIndex } = plan;
  const gemm = simdGemm(backend.wasm.asm.memory, { m, n, k, rsA: transposeA ? 1 : k, csA: transposeA ? m : 1, ldb: n });
  const aBase = byteOffset(backend, a);
  const bBase = byteOffset(backend, bU);
  const outBase = byteOffset(backend, out);
  for (let i = 0; i < aIndex.length; i++) gemm(aBase + aIndex[i]! * m * k * 4, bBase + bIndex[i]! * k * n * 4, outBase + i * m * n * 4);
}

function loopXnn(backend: WasmBackend, aU: tf.TensorInfo, bU: tf.TensorInfo, out: tf.TensorInfo, plan: MatMulPlan): void {
  const { m, k, n, aIndex, bIndex } = plan;
  const aBase = byteOffset(backend, aU);
  const bBase = byteOffset(backend, bU);
  const outBase = byteOffset(backend, out);
  const outId = tensorId(backend, out);
  for (let i = 0; i < aIndex.length; i++) {
    const av = plan.batchA === 1 ? null : makeView(backend, [1, m, k], aBase + aIndex[i]! * m * k * 4);
    const bv = makeView(backend, [1, k, n], bBase + bIndex[i]! * k * n * 4);
    const ov = aIndex.length === 1 ? null : makeView(backend, [1, m, n], outBase + i * m * n * 4);
    try {
      xnnMatMul(backend, av ? tensorId(backend, av) : tensorId(backend, aU), tensorId(backend, bv), ov ? tensorId(backend, ov) : outId, m, k, n);
    } finally {
      if (av) releaseView(backend, av);
      releaseView(backend, bv);
      if (ov) releaseView(backend, ov);
    }
  }
}
