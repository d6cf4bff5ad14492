import * as tf from '@tensorflow/tfjs-core';
import { callOriginal } from '../wasm-kernels/original-kernels';
import { simdGemm, type GemmShape, type WasmMemory } from '../wasm-kernels/simd-gemm';
import { isLargeWeight } from '../wasm-kernels/batch-mat-mul';
import { nativeGemmRouting } from '../native-gemm/kernels';
import { asWasmBackend, byteOffset, tensorId, xnnFusedMatMul, type WasmBackend } from '../wasm-kernels/wasm-backend';
import {
  addBias,
  attentionScores,
  attentionWeightedSum,
  geluExactRows,
  geluNewArgument,
  normRows,
  productInto,
  ropeRowsInPlace,
  writeCacheStep,
  type Activation,
  type DecodeDims,
} from './decode-math';
import { inPlaceBackend, liveF32, newF32 } from './tensor-memory';

/**
 * Fused inference kernels for decoding on the wasm and cpu backends: each replaces a chain of 5-20
 * tfjs ops by one dispatch (tfjs spends ~10 us of JS per dispatch, more than the arithmetic of a
 * decoding step at small batch). JS loops over the backends' memory (tensor-memory.ts), math in
 * decode-math.ts; exponentials go to the backend's own Softmax / Sigmoid kernels, called directly. No gradients: CausalLM routes only forwards with a KV cache here (inference).
 */
const ATTENTION = 'EmrlDecodeAttention';
const NORM = 'EmrlNorm';
const ACTIVATION = 'EmrlActivation';
const SWIGLU = 'EmrlSwiGlu';
const LINEAR = 'EmrlLinear';
const LAYER = 'EmrlDecodeLayer';
const EMBED = 'EmrlEmbed';

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

function input(args: KernelArgs, name: string): tf.TensorInfo {
  const t = args.inputs[name];
  if (!t) throw new Error(`libs/lm/src/model/decode-kernels.ts: kernel input "${name}" is missing`);
  return t;
}

/** A stock kernel of the backend a fused kernel runs on, called directly (no engine dispatch). */
function stock(backend: unknown, kernelName: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}): tf.TensorInfo {
  if ((backend as { wasm?: unknown }).wasm) return callOriginal(kernelName, inputs, backend, attrs);
  const config = tf.getKernel(kernelName, 'cpu');
  if (!config) throw new Error(`libs/lm/src/model/decode-kernels.ts: no cpu kernel "${kernelName}"`);
  return config.kernelFunc({ inputs, backend: backend as tf.KernelBackend, attrs }) as tf.TensorInfo;
}

function free(backend: unknown, t: tf.TensorInfo): void {
  (backend as tf.KernelBackend).disposeData(t.dataId);
}

/**
 * q [B, H, hd], k/v [B, Hkv, hd], keys kCache [B, Hkv, hd, cap] (transposed), values vCache
 * [B, Hkv, cap, hd], bias [B, 1, 1, Tk], cos/sin [B, 1, hd] optional -> [B, H, hd]. The two products
 * run per kv head as GEMMs over its G query heads (wasm: the generated SIMD GEMM on the heap, the
 * same one the BatchMatMul fix uses for attention; cpu: JS loops); the softmax is the backend's own
 * kernel (XNNPACK on wasm: Math.exp costs ~20-50 ns in JS).
 */
function attentionKernel(args: KernelArgs): tf.TensorInfo {
  const { backend } = args;
  const kc = input(args, 'kCache');
  const vc = input(args, 'vCache');
  const attrs = args.attrs ?? {};
  const [h, hkv, hd, pos, scale] = ['heads', 'kvHeads', 'headDim', 'pos', 'scale'].map((n) => attrs[n] as number) as [number, number, number, number, number];
  const b = kc.shape[0]!;
  const tk = pos + 1;
  const dims = { batch: b, heads: h, kvHeads: hkv, headDim: hd, capacity: kc.shape[3]!, pos };
  const qs = newF32(backend, [b, h, hd]); // q * scale, rotated
  const qv = liveF32(backend, qs);
  const kNew = new Float32Array(b * hkv * hd);
  const vNew = new Float32Array(b * hkv * hd);
  const packed = args.inputs['qkv'];
  if (packed) {
    // GPT-2 c_attn output [B, (H + 2 Hkv) hd]: q, k, v column blocks of each row.
    const src = liveF32(backend, packed);
    const [nq, nk] = [h * hd, hkv * hd];
    const row = nq + 2 * nk;
    for (let r = 0; r < b; r++) {
      qv.set(src.subarray(r * row, r * row + nq), r * nq);
      kNew.set(src.subarray(r * row + nq, r * row + nq + nk), r * nk);
      vNew.set(src.subarray(r * row + nq + nk, (r + 1) * row), r * nk);
    }
  } else {
    qv.set(liveF32(backend, input(args, 'q')));
    kNew.set(liveF32(backend, input(args, 'k')));
    vNew.set(liveF32(backend, input(args, 'v')));
  }
  for (let i = 0; i < qv.length; i++) qv[i] = qv[i]! * scale;
  const cos = args.inputs['cos'];
  const sin = args.inputs['sin'];
  if (cos && sin) {
    const c = liveF32(backend, cos);
    const s = liveF32(backend, sin);
    ropeRowsInPlace(qv, c, s, b * h, h, hd);
    ropeRowsInPlace(kNew, c, s, b * hkv, hkv, hd);
  }
  writeCacheStep(kNew, vNew, liveF32(backend, kc), liveF32(backend, vc), dims);
  // Views are (re)taken after every allocation: the wasm heap may grow and detach older views.
  const scores = newF32(backend, [b * h, tk]);
  const gemm = wasmGemm(backend, [kc, vc, qs]);
  if (gemm) gemmPerKvHead(gemm, { m: h / hkv, n: tk, k: hd, rsA: hd, csA: 1, ldb: dims.capacity }, qs, kc, scores, dims, [hd, hd * dims.capacity, tk]);
  else attentionScores(liveF32(backend, qs), liveF32(backend, kc), dims, liveF32(backend, scores));
  free(backend, qs);
  addBias(liveF32(backend, scores), liveF32(backend, input(args, 'bias')), b, h, tk);
  const probs = stock(backend, 'Softmax', { logits: scores }, { dim: 1 }); // the kernels take a non-negative axis
  free(backend, scores);
  const out = newF32(backend, [b, h * hd]);
  if (gemm) gemmPerKvHead(gemm, { m: h / hkv, n: hd, k: tk, rsA: tk, csA: 1, ldb: hd }, probs, vc, out, dims, [tk, dims.capacity * hd, hd]);
  else attentionWeightedSum(liveF32(backend, probs), liveF32(backend, vc), dims, liveF32(backend, out));
  free(backend, probs);
  return out;
}

/**
 * x [N, in] @ w [in, out] (+ bias [out]) through the registered _FusedMatMul kernel (on wasm: the
 * native GEMM for large products when it is on, else emrl's fix: XNNPACK with weights packed once per
 * weight tensor, or the SIMD GEMM for large weights) with rank-3 views of the same data:
 * tf.fused.matMul would add 3-4 Reshape dispatches around it. attrs.transposeB: w is [out, in] and
 * is read transposed (a tied head's embedding, read in place by the large-weight paths).
 */
function linearKernel(args: KernelArgs): tf.TensorInfo {
  const { backend } = args;
  const x = input(args, 'x');
  const w = input(args, 'w');
  const bias = args.inputs['bias'];
  const transposeB = Boolean(args.attrs?.['transposeB']);
  const [n, k] = x.shape as [number, number];
  const m = transposeB ? w.shape[0]! : w.shape[1]!;
  if (directXnnpack(backend, transposeB, bias, n, k, m)) {
    const wb = asWasmBackend(backend);
    const out = wb.makeOutput([n, m], 'float32');
    xnnFusedMatMul(wb, tensorId(wb, x), tensorId(wb, w), bias ? tensorId(wb, bias) : 0, tensorId(wb, out), n, k, m);
    return out;
  }
  const backendName = (backend as { wasm?: unknown }).wasm ? 'wasm' : 'cpu';
  const config = tf.getKernel('_FusedMatMul', backendName);
  if (!config) throw new Error(`libs/lm/src/model/decode-kernels.ts: no ${backendName} kernel "_FusedMatMul"`);
  const inputs: tf.NamedTensorInfoMap = { a: { ...x, shape: [1, n, k] }, b: { ...w, shape: transposeB ? [1, m, k] : [1, k, m] } };
  if (bias) inputs['bias'] = bias;
  const attrs = { transposeA: false, transposeB, activation: 'linear', leakyreluAlpha: 0 };
  const out = config.kernelFunc({ inputs, backend: backend as tf.KernelBackend, attrs }) as tf.TensorInfo;
  return { ...out, shape: [n, m] };
}

/**
 * Whether x [n, k] @ w [k, m] (+ bias) would end in the stock kernel's XNNPACK call anyway on this
 * backend: wasm, w untransposed and not a large weight (fused-mat-mul.ts sends those to the SIMD GEMM),
 * a rank-1 bias, and a product the native GEMM declines (fewer than minRows rows or at most minMacs
 * multiply-adds, native-gemm/kernels.ts). Those products skip the kernel chain (native hook, fix,
 * ccall) and call the C export directly: same C++ call, same result (decoding at small batch).
 */
function directXnnpack(backend: unknown, transposeB: boolean, bias: tf.TensorInfo | undefined, n: number, k: number, m: number): boolean {
  if (!(backend as { wasm?: unknown }).wasm || transposeB || isLargeWeight(k, m)) return false;
  if (bias && bias.shape.length !== 1) return false;
  return n < nativeGemmRouting.minRows || n * k * m <= nativeGemmRouting.minMacs;
}

interface HeapGemm {
  backend: WasmBackend;
  memory: WasmMemory;
}

/** The wasm heap, when the backend is wasm and `read` tensors leave the 16 bytes of slack the SIMD GEMM may over-read. */
function wasmGemm(backend: unknown, read: tf.TensorInfo[]): HeapGemm | null {
  if (!(backend as { wasm?: unknown }).wasm) return null;
  const w = asWasmBackend(backend);
  const memory = w.wasm.asm.memory;
  const fits = read.every((t) => w.dataIdMap.get(t.dataId).memoryOffset + tf.util.sizeFromShape(t.shape) * 4 + 16 <= memory.buffer.byteLength);
  return fits ? { backend: w, memory } : null;
}

/**
 * For each (batch row, kv head): C [G, n] = A [G, k] @ B [k, n], where A is the G query-head rows of
 * `a` [B, H, k], B the kv head's block of `bMat` [B, Hkv, k, ldb], C rows of `c` [B, H, n].
 * strides = [floats per A row, floats per B block, floats per C row].
 */
function gemmPerKvHead(g: HeapGemm, shape: GemmShape, a: tf.TensorInfo, bMat: tf.TensorInfo, c: tf.TensorInfo, d: DecodeDims, strides: [number, number, number]): void {
  const fn = simdGemm(g.memory, shape);
  const [aRow, bBlock, cRow] = strides;
  const group = d.heads / d.kvHeads;
  const [aBase, bBase, cBase] = [byteOffset(g.backend, a), byteOffset(g.backend, bMat), byteOffset(g.backend, c)];
  for (let bi = 0; bi < d.batch; bi++) {
    for (let kv = 0; kv < d.kvHeads; kv++) {
      const head = bi * d.heads + kv * group; // first query head of this kv head
      fn(aBase + head * aRow * 4, bBase + (bi * d.kvHeads + kv) * bBlock * 4, cBase + head * cRow * 4);
    }
  }
}

/** x [N, D], gamma [D], beta [D] (LayerNorm) or absent (RMSNorm) -> [N, D]. */
function normKernel(args: KernelArgs): tf.TensorInfo {
  const { backend } = args;
  const x = input(args, 'x');
  const out = newF32(backend, [...x.shape]);
  const beta = args.inputs['beta'];
  const dim = x.shape[x.shape.length - 1]!;
  normRows(liveF32(backend, x), liveF32(backend, input(args, 'gamma')), beta ? liveF32(backend, beta) : null, args.attrs?.['eps'] as number, dim, liveF32(backend, out));
  return out;
}

/** gelu_new: x * sigmoid(2u) with the backend's sigmoid; exact gelu: JS loop. */
function activationKernel(args: KernelArgs): tf.TensorInfo {
  const { backend } = args;
  const x = input(args, 'x');
  const shape = [...x.shape];
  if ((args.attrs?.['fn'] as Activation) === 'gelu') {
    const out = newF32(backend, shape);
    geluExactRows(liveF32(backend, x), liveF32(backend, out));
    return out;
  }
  const z = newF32(backend, shape);
  geluNewArgument(liveF32(backend, x), liveF32(backend, z));
  const s = stock(backend, 'Sigmoid', { x: z });
  free(backend, z);
  const out = newF32(backend, shape);
  productInto(liveF32(backend, x), liveF32(backend, s), null, liveF32(backend, out));
  free(backend, s);
  return out;
}

/** gate * sigmoid(gate) * up with the backend's sigmoid. */
function swiGluKernel(args: KernelArgs): tf.TensorInfo {
  const { backend } = args;
  const gate = input(args, 'gate');
  const s = stock(backend, 'Sigmoid', { x: gate });
  const out = newF32(backend, [...gate.shape]);
  productInto(liveF32(backend, gate), liveF32(backend, s), liveF32(backend, input(args, 'up')), liveF32(backend, out));
  free(backend, s);
  return out;
}

/** out = a + b elementwise, as a new tensor (float32 sums: the same values as tf.add). */
function addInto(backend: unknown, a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo {
  const out = newF32(backend, [...a.shape]);
  const [x, y, o] = [liveF32(backend, a), liveF32(backend, b), liveF32(backend, out)];
  for (let i = 0; i < o.length; i++) o[i] = x[i]! + y[i]!;
  return out;
}

/**
 * Runs a kernel of this file directly (absent inputs dropped) and records its output in `temps`.
 * Top-level rather than closures in layerKernel: tsx (esbuild keepNames) wraps every named closure
 * in a `__name` call, ~3% of a batch-1 decoding step when made per layer and step.
 */
function callTracked(
  temps: tf.TensorInfo[],
  backend: unknown,
  fn: (a: KernelArgs) => tf.TensorInfo,
  inputs: Record<string, tf.TensorInfo | undefined>,
  attrs: tf.NamedAttrMap = {},
): tf.TensorInfo {
  const clean: tf.NamedTensorInfoMap = {};
  for (const k in inputs) {
    const v = inputs[k];
    if (v) clean[k] = v;
  }
  const out = fn({ inputs: clean, backend, attrs });
  temps.push(out);
  return out;
}

/** The linear `name` (weights `${name}W`, `${name}B`) of a layer, output recorded in `temps`. */
function linTracked(temps: tf.TensorInfo[], backend: unknown, w: tf.NamedTensorInfoMap, x: tf.TensorInfo, name: string): tf.TensorInfo {
  return callTracked(temps, backend, linearKernel, { x, w: w[`${name}W`], bias: w[`${name}B`] });
}

/**
 * A whole decoder layer for one decoding step (T = 1) in one dispatch: x [B, D] ->
 * x + attn(norm1(x)) then + mlp(norm2(.)), composed from the kernels above called directly (each
 * an engine dispatch otherwise). Weights by role (see decodeLayer in decode-layer.ts); GPT-2: packed
 * c_attn, LayerNorm, GELU MLP; Llama family: q/k/v/o, optional q/k-norm, RMSNorm, SwiGLU.
 */
function layerKernel(args: KernelArgs): tf.TensorInfo {
  const { backend } = args;
  const w = args.inputs;
  const attrs = args.attrs ?? {};
  const eps = attrs['eps'] as number;
  const x = input(args, 'x');
  const b = x.shape[0]!;
  const temps: tf.TensorInfo[] = [];
  try {
    const h1 = callTracked(temps, backend, normKernel, { x, gamma: w['norm1G'], beta: w['norm1B'] }, { eps });
    const attention: Record<string, tf.TensorInfo | undefined> = { kCache: w['kCache'], vCache: w['vCache'], bias: w['bias'], cos: w['cos'], sin: w['sin'] };
    if (w['qkvW']) attention['qkv'] = linTracked(temps, backend, w, h1, 'qkv');
    else {
      const [h, hkv, hd] = [attrs['heads'] as number, attrs['kvHeads'] as number, attrs['headDim'] as number];
      let [q, k] = [linTracked(temps, backend, w, h1, 'q'), linTracked(temps, backend, w, h1, 'k')];
      if (w['qNormG'] && w['kNormG']) {
        q = callTracked(temps, backend, normKernel, { x: { ...q, shape: [b * h, hd] }, gamma: w['qNormG'] }, { eps });
        k = callTracked(temps, backend, normKernel, { x: { ...k, shape: [b * hkv, hd] }, gamma: w['kNormG'] }, { eps });
      }
      Object.assign(attention, { q, k, v: linTracked(temps, backend, w, h1, 'v') });
    }
    const att = callTracked(temps, backend, attentionKernel, attention, attrs);
    const x1 = addInto(backend, x, linTracked(temps, backend, w, att, 'o'));
    temps.push(x1);
    const h2 = callTracked(temps, backend, normKernel, { x: x1, gamma: w['norm2G'], beta: w['norm2B'] }, { eps });
    const hidden = w['upW']
      ? callTracked(temps, backend, swiGluKernel, { gate: linTracked(temps, backend, w, h2, 'gate'), up: linTracked(temps, backend, w, h2, 'up') })
      : callTracked(temps, backend, activationKernel, { x: linTracked(temps, backend, w, h2, 'fc') }, { fn: attrs['activation'] as string });
    return addInto(backend, x1, linTracked(temps, backend, w, hidden, 'down'));
  } finally {
    for (const t of temps) free(backend, t);
  }
}

/**
 * Embedding rows of a decoding step: x[r] = wte[ids[r]] (+ wpe[pos[r]], GPT-2) -> [N, D]; ids and
 * positions come as host arrays (attrs), the tables stay where they are.
 */
function embedKernel(args: KernelArgs): tf.TensorInfo {
  const { backend } = args;
  const wte = input(args, 'wte');
  const wpe = args.inputs['wpe'];
  const ids = args.attrs?.['ids'] as number[];
  const pos = args.attrs?.['pos'] as number[];
  const [v, d] = wte.shape as [number, number];
  const out = newF32(backend, [ids.length, d]);
  const [o, e] = [liveF32(backend, out), liveF32(backend, wte)];
  const p = wpe ? liveF32(backend, wpe) : null;
  for (let r = 0; r < ids.length; r++) {
    const id = ids[r]!;
    if (!Number.isInteger(id) || id < 0 || id >= v) throw new Error(`CausalLM.forward: token id ${id} (row ${r}) is outside the vocabulary [0, ${v}); check inputIds`);
    if (!p) {
      o.set(e.subarray(id * d, (id + 1) * d), r * d);
      continue;
    }
    const [eo, po] = [id * d, pos[r]! * d];
    for (let i = 0; i < d; i++) o[r * d + i] = e[eo + i]! + p[po + i]!;
  }
  return out;
}

const KERNELS: [string, (args: KernelArgs) => tf.TensorInfo][] = [
  [ATTENTION, attentionKernel],
  [NORM, normKernel],
  [ACTIVATION, activationKernel],
  [SWIGLU, swiGluKernel],
  [LINEAR, linearKernel],
  [LAYER, layerKernel],
  [EMBED, embedKernel],
];

let kernelsRegistered = false;

/** Registers the fused kernels on 'wasm' and 'cpu' (once); true when the active backend has them. */
export function fusedDecodingAvailable(): boolean {
  if (inPlaceBackend() === null) return false;
  if (kernelsRegistered) return true;
  kernelsRegistered = true;
  for (const backendName of ['wasm', 'cpu']) {
    for (const [kernelName, fn] of KERNELS) {
      if (!tf.getKernel(kernelName, backendName)) tf.registerKernel({ kernelName, backendName, kernelFunc: fn as unknown as tf.KernelFunc });
    }
  }
  return true;
}

function run<T extends tf.Tensor>(name: string, inputs: Record<string, tf.Tensor>, attrs: tf.NamedAttrMap = {}): T {
  return tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs) as T;
}

export interface DecodeAttentionInputs {
  /** Either the GPT-2 packed projection qkv [B, (H + 2 Hkv) hd] or q [B, H hd], k and v [B, Hkv hd] (any shapes of these sizes). */
  qkv?: tf.Tensor;
  q?: tf.Tensor;
  k?: tf.Tensor;
  v?: tf.Tensor;
  kCache: tf.Tensor4D; // [B, Hkv, hd, cap] (transposed keys), written at pos
  vCache: tf.Tensor4D; // [B, Hkv, cap, hd]
  bias: tf.Tensor4D; // [B, 1, 1, pos + 1]
  rope: { cos: tf.Tensor3D; sin: tf.Tensor3D } | null; // each [B, 1, hd]
}

export interface DecodeAttentionAttrs {
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Position written and attended last (Tk = pos + 1). */
  pos: number;
  /** Query scale, 1 / sqrt(hd). */
  scale: number;
}

/**
 * One fused decoding step of attention (T = 1): q * scale, RoPE on q and k, k and v written into the
 * cache buffers at `pos` (in place), softmax(q k^T + bias) v over positions 0..pos -> [B, H hd].
 */
export function decodeAttention(x: DecodeAttentionInputs, attrs: DecodeAttentionAttrs): tf.Tensor2D {
  const inputs: Record<string, tf.Tensor> = { kCache: x.kCache, vCache: x.vCache, bias: x.bias };
  if (x.qkv) inputs['qkv'] = x.qkv;
  else if (x.q && x.k && x.v) Object.assign(inputs, { q: x.q, k: x.k, v: x.v });
  else throw new Error('decodeAttention: pass qkv, or q, k and v');
  if (x.rope) Object.assign(inputs, { cos: x.rope.cos, sin: x.rope.sin });
  return run<tf.Tensor2D>(ATTENTION, inputs, { ...attrs });
}

/** x [N, in] @ w [in, out] (+ bias [out]) in one dispatch (no reshapes). */
export function fusedLinear(x: tf.Tensor2D, w: tf.Tensor2D, bias?: tf.Tensor1D, opts: { transposeB?: boolean } = {}): tf.Tensor2D {
  return run<tf.Tensor2D>(LINEAR, bias ? { x, w, bias } : { x, w }, opts.transposeB ? { transposeB: true } : {});
}

/** LayerNorm (beta given) or RMSNorm in one dispatch. x [N, D] -> [N, D]. */
export function fusedNorm(x: tf.Tensor2D, gamma: tf.Tensor1D, beta: tf.Tensor1D | null, eps: number): tf.Tensor2D {
  return run<tf.Tensor2D>(NORM, beta ? { x, gamma, beta } : { x, gamma }, { eps });
}

/** gelu_new / gelu in one dispatch. */
export function fusedActivation<T extends tf.Tensor>(x: T, fn: Activation): T {
  return run<T>(ACTIVATION, { x }, { fn });
}

/** silu(gate) * up in one dispatch. */
export function fusedSwiGlu<T extends tf.Tensor>(gate: T, up: T): T {
  return run<T>(SWIGLU, { gate, up });
}

/** Weights of one decoder layer by role (as decode-layer.ts collects them); absent = not in this family. */
export type DecodeLayerWeights = Partial<
  Record<'norm1G' | 'norm1B' | 'norm2G' | 'norm2B' | 'qNormG' | 'kNormG' | `${'qkv' | 'q' | 'k' | 'v' | 'o' | 'fc' | 'gate' | 'up' | 'down'}${'W' | 'B'}`, tf.Tensor>
>;

/** One whole decoder layer of a decoding step (T = 1) in one dispatch: x [B, D] -> [B, D]. */
export function fusedDecodeLayer(
  x: tf.Tensor2D,
  weights: DecodeLayerWeights,
  step: Omit<DecodeAttentionInputs, 'qkv' | 'q' | 'k' | 'v'>,
  attrs: DecodeAttentionAttrs & { eps: number; activation: Activation | 'silu' },
): tf.Tensor2D {
  const inputs: Record<string, tf.Tensor> = { x, kCache: step.kCache, vCache: step.vCache, bias: step.bias };
  for (const [k, v] of Object.entries(weights)) if (v) inputs[k] = v;
  if (step.rope) Object.assign(inputs, { cos: step.rope.cos, sin: step.rope.sin });
  return run<tf.Tensor2D>(LAYER, inputs, { ...attrs });
}

/**
 * Token (+ learned position) embeddings of a decoding step in one dispatch: wte [V, D] rows of
 * `ids` (+ wpe [P, D] rows of `positions`) -> [N, D].
 */
export function fusedEmbedding(wte: tf.Tensor, ids: ArrayLike<number>, wpe: tf.Tensor | null, positions: ArrayLike<number>): tf.Tensor2D {
  const attrs = { ids: Array.from(ids), pos: Array.from(positions) };
  return run<tf.Tensor2D>(EMBED, wpe ? { wte, wpe } : { wte }, attrs as unknown as tf.NamedAttrMap);
}
