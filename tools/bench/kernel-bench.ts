import * as tf from '@tensorflow/tfjs-core';
import { withUntouchedKernels } from '@emrl/lm';
import { median, msPerCall } from './stats';

export interface KernelCase {
  kernel: string;
  what: string;
  /** Builds the inputs once and returns the op to time (its output is disposed by the bench). */
  setup: () => { run: () => tf.Tensor | tf.Tensor[]; dispose: () => void };
  /** The stock wasm kernel is missing (UnsortedSegmentSum): only the fixed time is reported. */
  noStock?: boolean;
}

export interface KernelResult {
  kernel: string;
  what: string;
  fixedMs: number;
  stockMs: number | null;
  speedup: number | null;
}

const r = (shape: number[]): tf.Tensor => tf.randomNormal(shape, 0, 1, 'float32', 7);

function op(inputs: tf.Tensor[], run: () => tf.Tensor | tf.Tensor[]): ReturnType<KernelCase['setup']> {
  return { run, dispose: () => tf.dispose(inputs) };
}

function mm(as: number[], bs: number[], ta: boolean, tb: boolean): KernelCase['setup'] {
  return () => {
    const a = r(as);
    const b = r(bs);
    return op([a, b], () => tf.matMul(a, b, ta, tb));
  };
}

/** Model shapes: (a) N = 64*51 = 3264 tokens, D 96, 4 heads of 24; (b) N = 2*256, D 512, 8 heads of 64. */
export function kernelCases(): KernelCase[] {
  return [
    { kernel: 'BatchMatMul', what: '(a) weight grad x^T dy [3264,96]^T[3264,384]', setup: mm([3264, 96], [3264, 384], true, false) },
    { kernel: 'BatchMatMul', what: '(a) input grad dy W^T [3264,384][96,384]^T', setup: mm([3264, 384], [96, 384], false, true) },
    { kernel: 'BatchMatMul', what: '(a) tied head x wte^T [3264,96][258,96]^T', setup: mm([3264, 96], [258, 96], false, true) },
    // Attention of (a): q, k, v [B*H, T, hd] = [256, 51, 24], probabilities P and their gradient dS [256, 51, 51].
    // These are the exact BatchMatMul calls (shapes and transpose flags) a training step of (a) issues
    // (tools/bench/profile-step.ts lists them); tf.matMul reaches the kernel with the same attributes.
    { kernel: 'BatchMatMul', what: '(a) scores q k^T [256,51,24][256,51,24]^T', setup: mm([256, 51, 24], [256, 51, 24], false, true) },
    { kernel: 'BatchMatMul', what: '(a) weighted sum P v [256,51,51][256,51,24]', setup: mm([256, 51, 51], [256, 51, 24], false, false) },
    { kernel: 'BatchMatMul', what: '(a) grad dq = dS k [256,51,51][256,51,24]', setup: mm([256, 51, 51], [256, 51, 24], false, false) },
    { kernel: 'BatchMatMul', what: '(a) grad dk = dS^T q [256,51,51]^T[256,51,24]', setup: mm([256, 51, 51], [256, 51, 24], true, false) },
    { kernel: 'BatchMatMul', what: '(a) grad dP = dY v^T [256,51,24][256,51,24]^T', setup: mm([256, 51, 24], [256, 51, 24], false, true) },
    { kernel: 'BatchMatMul', what: '(a) decode q k^T [64,1,24][64,50,24]^T', setup: mm([64, 1, 24], [64, 50, 24], false, true) },
    { kernel: 'BatchMatMul', what: '(b) weight grad [512,512]^T[512,2048]', setup: mm([512, 512], [512, 2048], true, false) },
    { kernel: 'BatchMatMul', what: '(b) scores [16,256,64][16,64,256]', setup: mm([16, 256, 64], [16, 64, 256], false, false) },
    {
      kernel: 'Transpose',
      what: 'rank 5 [64,51,3,4,24] -> [3,64,4,51,24]',
      setup: () => {
        const x = r([64, 51, 3, 4, 24]);
        return op([x], () => tf.transpose(x, [2, 0, 3, 1, 4]));
      },
    },
    {
      kernel: 'SplitV',
      what: '(a) qkv split [3264,288] -> 3 x [3264,96]',
      setup: () => {
        const x = r([3264, 288]);
        return op([x], () => tf.split(x, [96, 96, 96], 1));
      },
    },
    {
      kernel: 'GatherV2',
      what: '(a) embedding wte[258,96] x 3264 ids',
      setup: () => {
        const w = r([258, 96]);
        const ids = tf.randomUniform([3264], 0, 258, 'int32', 3);
        return op([w, ids], () => tf.gather(w, ids));
      },
    },
    {
      kernel: 'UnsortedSegmentSum',
      what: '(a) embedding grad 3264 rows -> [258,96]',
      noStock: true,
      setup: () => {
        const g = r([3264, 96]);
        const ids = tf.randomUniform([3264], 0, 258, 'int32', 3);
        return op([g, ids], () => tf.unsortedSegmentSum(g, ids as tf.Tensor1D, 258));
      },
    },
    {
      kernel: 'Identity',
      what: '(a) gradient-tape pass-through [64,4,51,51]',
      setup: () => {
        const x = r([64, 4, 51, 51]);
        return op([x], () => tf.clone(x));
      },
    },
    {
      kernel: 'Tanh',
      what: 'tanh [3264,384] (not used by GPT-2 GELU now)',
      setup: () => {
        const x = r([3264, 384]);
        return op([x], () => tf.tanh(x));
      },
    },
    {
      kernel: 'Pow',
      what: 'x^3 [3264,384] (not used by GPT-2 GELU now)',
      setup: () => {
        const x = r([3264, 384]);
        return op([x], () => tf.pow(x, 3));
      },
    },
  ];
}

function timeRun(run: () => tf.Tensor | tf.Tensor[], minMs: number): number {
  return msPerCall(() => tf.dispose(run()), minMs);
}

/** Fixed and stock kernels timed alternately `reps` times in the same run; medians reported. */
export function benchKernel(c: KernelCase, reps: number, minMs: number): KernelResult {
  const { run, dispose } = c.setup();
  try {
    // Warm-up (JIT, heap growth) for at least 100 ms of CPU each.
    timeRun(run, 100);
    if (!c.noStock) withUntouchedKernels(() => timeRun(run, 100));
    const fixed: number[] = [];
    const stock: number[] = [];
    for (let i = 0; i < reps; i++) {
      fixed.push(timeRun(run, minMs));
      if (!c.noStock) stock.push(withUntouchedKernels(() => timeRun(run, minMs)));
    }
    const fixedMs = median(fixed);
    const stockMs = c.noStock ? null : median(stock);
    return { kernel: c.kernel, what: c.what, fixedMs, stockMs, speedup: stockMs === null ? null : stockMs / fixedMs };
  } finally {
    dispose();
  }
}
