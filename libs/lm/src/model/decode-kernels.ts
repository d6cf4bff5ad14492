import * as tf from '@tensorflow/tfjs-core';
import { activationRows, decodeAttentionStep, normRows, ropeRowsInPlace, swiGluRows, type Activation } from './decode-math';
import { inPlaceBackend, liveF32, newF32 } from './tensor-memory';

/**
 * Fused inference kernels for decoding on the wasm and cpu backends: each replaces a chain of 5-20
 * tfjs ops by one dispatch (tfjs spends ~10 us of JS per dispatch, more than the arithmetic of a
 * decoding step at small batch). JS loops over the backends' memory (tensor-memory.ts), math in
 * decode-math.ts. No gradients: CausalLM routes only forwards with a KV cache here (inference).
 */
const ATTENTION = 'EmrlDecodeAttention';
const NORM = 'EmrlNorm';
const ACTIVATION = 'EmrlActivation';
const SWIGLU = 'EmrlSwiGlu';

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

function input(args: KernelArgs, name: string): tf.TensorInfo {
  const t = args.inputs[name];
  if (!t) throw new Error(`libs/lm/src/model/decode-kernels.ts: kernel input "${name}" is missing`);
  return t;
}

/** q [B, H, hd], k/v [B, Hkv, hd], kCache/vCache [B, Hkv, cap, hd], bias [B, 1, 1, Tk], cos/sin [B, 1, hd] optional -> [B, H, hd]. */
function attentionKernel(args: KernelArgs): tf.TensorInfo {
  const { backend } = args;
  const q = input(args, 'q');
  const k = input(args, 'k');
  const kc = input(args, 'kCache');
  const [b, h, hd] = q.shape as [number, number, number];
  const hkv = k.shape[1]!;
  const cap = kc.shape[2]!;
  const pos = args.attrs?.['pos'] as number;
  const scale = args.attrs?.['scale'] as number;
  const out = newF32(backend, [b, h, hd]);
  // Views are taken after the allocation above (the wasm heap may have grown).
  const o = liveF32(backend, out);
  o.set(liveF32(backend, q));
  for (let i = 0; i < o.length; i++) o[i] = Math.fround((o[i] as number) * scale);
  let kNew = liveF32(backend, k);
  const cos = args.inputs['cos'];
  const sin = args.inputs['sin'];
  if (cos && sin) {
    const c = liveF32(backend, cos);
    const s = liveF32(backend, sin);
    ropeRowsInPlace(o, c, s, b * h, h, hd);
    kNew = Float32Array.from(kNew);
    ropeRowsInPlace(kNew, c, s, b * hkv, hkv, hd);
  }
  // o is both the (rotated) query and the output: copy the query first.
  const qv = Float32Array.from(o);
  const dims = { batch: b, heads: h, kvHeads: hkv, headDim: hd, capacity: cap, pos };
  decodeAttentionStep(qv, kNew, liveF32(backend, input(args, 'v')), liveF32(backend, kc), liveF32(backend, input(args, 'vCache')), liveF32(backend, input(args, 'bias')), dims, o);
  return out;
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

function activationKernel(args: KernelArgs): tf.TensorInfo {
  const { backend } = args;
  const x = input(args, 'x');
  const out = newF32(backend, [...x.shape]);
  activationRows(liveF32(backend, x), args.attrs?.['fn'] as Activation, liveF32(backend, out));
  return out;
}

function swiGluKernel(args: KernelArgs): tf.TensorInfo {
  const { backend } = args;
  const gate = input(args, 'gate');
  const out = newF32(backend, [...gate.shape]);
  swiGluRows(liveF32(backend, gate), liveF32(backend, input(args, 'up')), liveF32(backend, out));
  return out;
}

const KERNELS: [string, (args: KernelArgs) => tf.TensorInfo][] = [
  [ATTENTION, attentionKernel],
  [NORM, normKernel],
  [ACTIVATION, activationKernel],
  [SWIGLU, swiGluKernel],
];

/** Registers the fused kernels on 'wasm' and 'cpu' (idempotent); true when the active backend has them. */
export function fusedDecodingAvailable(): boolean {
  if (inPlaceBackend() === null) return false;
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
  q: tf.Tensor3D; // [B, H, hd], not yet scaled or rotated
  k: tf.Tensor3D; // [B, Hkv, hd], not yet rotated
  v: tf.Tensor3D; // [B, Hkv, hd]
  kCache: tf.Tensor4D; // [B, Hkv, cap, hd], written at pos
  vCache: tf.Tensor4D;
  bias: tf.Tensor4D; // [B, 1, 1, pos + 1]
  rope: { cos: tf.Tensor3D; sin: tf.Tensor3D } | null; // each [B, 1, hd]
}

/**
 * One fused decoding step of attention (T = 1): q * scale, RoPE on q and k, k and v written into the
 * cache buffers at `pos` (in place), softmax(q k^T + bias) v over positions 0..pos -> [B, H, hd].
 */
export function decodeAttention(x: DecodeAttentionInputs, pos: number, scale: number): tf.Tensor3D {
  const inputs: Record<string, tf.Tensor> = { q: x.q, k: x.k, v: x.v, kCache: x.kCache, vCache: x.vCache, bias: x.bias };
  if (x.rope) Object.assign(inputs, { cos: x.rope.cos, sin: x.rope.sin });
  return run<tf.Tensor3D>(ATTENTION, inputs, { pos, scale });
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
