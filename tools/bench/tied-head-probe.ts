/**
 * Why real-size decoding is slow (docs/PERFORMANCE.md, "Issue #15 table, re-measured"): one decoding
 * step's tied head x wte^T at Qwen2.5-0.5B's vocab, against the same product on a pre-transposed
 * weight and the transpose alone. CPU ms, mean of 3 after one warm-up.
 * Run: npx tsx tools/bench/tied-head-probe.ts
 */
import './register-hooks';
const tf = await import('@tensorflow/tfjs-core');
const { initBackend } = await import('@emrl/lm');
const { cpuMs } = await import('./stats');
await initBackend({ prefer: 'wasm' });
const w = tf.randomNormal([151936, 896], 0, 0.02, 'float32', 1) as import('@tensorflow/tfjs-core').Tensor2D;
const wT = tf.transpose(w) as import('@tensorflow/tfjs-core').Tensor2D;
const x = tf.randomNormal([1, 896]) as import('@tensorflow/tfjs-core').Tensor2D;
const x64 = tf.randomNormal([64, 896]) as import('@tensorflow/tfjs-core').Tensor2D; // a training chunk of 64 positions
const cases = [
  ['x wte^T (tied head, transposeB)', () => tf.matMul(x, w, false, true)],
  ['x W [896,V] (untransposed weight)', () => tf.matMul(x, wT)],
  ['x64 wte^T (a 64-row log-prob chunk, transposeB)', () => tf.matMul(x64, w, false, true)],
  ['transpose [V,896] alone', () => tf.transpose(w)],
] as const;
console.log(`native GEMM: ${JSON.stringify((await import('@emrl/lm')).nativeGemmStatus())}`);
for (const [name, f] of cases) {
  f().dispose();
  const t0 = process.cpuUsage();
  for (let i = 0; i < 3; i++) f().dispose();
  console.log(name, (cpuMs(t0) / 3).toFixed(1), 'ms');
}
