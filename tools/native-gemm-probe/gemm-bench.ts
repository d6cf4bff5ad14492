/**
 * GFLOP/s of the native GEMM vs emrl's wasm kernels vs PyTorch 1 thread on the training products of
 * shapes (a) and (b) (shapes.ts). emrl and native: CPU time of this process, both called through
 * tf.matMul (same dispatch and output allocation), interleaved; "raw" is the addon call alone on a
 * preallocated output. Native 2 threads: wall time (CPU time counts both threads). PyTorch: CPU time.
 *
 *   bash tools/native-gemm-probe/build.sh
 *   npx tsx --import ./tools/bench/register-hooks.ts tools/native-gemm-probe/gemm-bench.ts [reps]
 */
import * as tf from '@tensorflow/tfjs-core';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { initBackend } from '@emrl/lm';
import { median, msPerCall } from '../bench/stats';
import { findTorchPython } from '../bench/torch-runner';
import { requireNativeGemm } from './native';
import { registerNativeMatMul, unregisterNativeMatMul } from './native-matmul';
import { GEMM_SHAPES, gemmFlops, type GemmShape } from './shapes';
import { asWasmHeapBackend, floatOffset, heapF32 } from './wasm-heap';

function torchMs(reps: number): Map<string, number> | null {
  const py = findTorchPython();
  if (!py) return null;
  const script = fileURLToPath(new URL('./torch_gemm.py', import.meta.url));
  const env = { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
  const r = spawnSync(py, [script, JSON.stringify(GEMM_SHAPES), String(reps)], { env, encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`tools/native-gemm-probe/torch_gemm.py failed (${py}): ${r.stderr.slice(-500)}`);
  const parsed = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { torch: string; results: { what: string; ms: number }[] };
  console.log(`torch ${parsed.torch} (${py}), 1 thread`);
  return new Map(parsed.results.map((x) => [x.what, x.ms]));
}

function wallPerCall(fn: () => void, minMs = 30): number {
  let calls = 0;
  const start = performance.now();
  let t = 0;
  do {
    fn();
    calls++;
    t = performance.now() - start;
  } while (t < minMs);
  return t / calls;
}

interface Row {
  shape: GemmShape;
  wasm: number;
  native: number;
  raw: number;
  native2Wall: number;
}

function benchShape(s: GemmShape, reps: number): Row {
  const gemm = requireNativeGemm();
  const backend = asWasmHeapBackend(tf.backend());
  const a = tf.randomNormal(s.a, 0, 1, 'float32', 1);
  const b = tf.randomNormal(s.b, 0, 1, 'float32', 2);
  const run = (): void => tf.matMul(a, b, s.ta, s.tb).dispose();
  // Raw addon call: offsets of a, b and one preallocated output, the same as the kernel computes.
  const out = tf.matMul(a, b, s.ta, s.tb);
  const m = out.shape[out.shape.length - 2]!;
  const n = out.shape[out.shape.length - 1]!;
  const k = s.ta ? s.a[s.a.length - 2]! : s.a[s.a.length - 1]!;
  const batch = tf.util.sizeFromShape(out.shape.slice(0, -2));
  const offsets = new Int32Array(3 * batch);
  for (let i = 0; i < batch; i++) {
    offsets[3 * i] = floatOffset(backend, a) + i * m * k;
    offsets[3 * i + 1] = floatOffset(backend, b) + i * k * n;
    offsets[3 * i + 2] = floatOffset(backend, out) + i * m * n;
  }
  const raw = (threads: 1 | 2) => (): void => gemm.sgemm(heapF32(backend), offsets, m, n, k, s.ta, s.tb, threads, -1);
  const times = { wasm: [] as number[], native: [] as number[], raw: [] as number[], native2Wall: [] as number[] };
  try {
    run();
    for (let r = 0; r < reps; r++) {
      times.wasm.push(msPerCall(run));
      registerNativeMatMul(gemm, 1);
      try {
        times.native.push(msPerCall(run));
      } finally {
        unregisterNativeMatMul();
      }
      times.raw.push(msPerCall(raw(1)));
      times.native2Wall.push(wallPerCall(raw(2)));
    }
  } finally {
    tf.dispose([a, b, out]);
  }
  return { shape: s, wasm: median(times.wasm), native: median(times.native), raw: median(times.raw), native2Wall: median(times.native2Wall) };
}

async function main(): Promise<void> {
  const reps = Number(process.argv[2] ?? 5);
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`tools/native-gemm-probe/gemm-bench: reps must be a positive integer, got ${process.argv[2]}`);
  await initBackend({ prefer: 'wasm' });
  console.log(`# native GEMM probe  ${new Date().toISOString()}  load avg ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  const rows = GEMM_SHAPES.map((s) => benchShape(s, reps));
  const torch = torchMs(reps);
  console.log(`load avg after: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}; median of ${reps}; GFLOP/s (ms)\n`);
  const g = (flops: number, ms: number): string => `${(flops / ms / 1e6).toFixed(1)} (${ms < 1 ? ms.toFixed(3) : ms.toFixed(2)})`;
  console.log('| product | emrl wasm | native 1t | native raw 1t | native 2t wall | torch 1t | native/wasm | native/torch |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    const f = gemmFlops(r.shape);
    const t = torch?.get(r.shape.what);
    console.log(
      `| ${r.shape.what} | ${g(f, r.wasm)} | ${g(f, r.native)} | ${g(f, r.raw)} | ${g(f, r.native2Wall)} | ${t ? g(f, t) : 'n/a'} | ${(r.wasm / r.native).toFixed(2)}x | ${t ? (t / r.native).toFixed(2) + 'x' : 'n/a'} |`,
    );
  }
}

await main();
