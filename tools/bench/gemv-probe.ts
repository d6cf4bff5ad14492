/**
 * Decoding's products at Qwen2.5-0.5B's size (docs/PERFORMANCE.md, "Real size after all merges"):
 * x [m, 896] against the tied head read transposed, the MLP weights and a q projection, on the native
 * GEMM and on emrl's wasm kernels (withoutNativeGemm) in the same process. CPU ms per product, mean
 * after one warm-up. Run: npx tsx tools/bench/gemv-probe.ts
 */
import './register-hooks';
const tf = await import('@tensorflow/tfjs-core');
const lm = await import('@emrl/lm');
const { cpuMs } = await import('./stats');
await lm.initBackend({ prefer: 'wasm' });
const wte = tf.randomNormal([151936, 896], 0, 0.02, 'float32', 1) as import('@tensorflow/tfjs-core').Tensor2D;
const up = tf.randomNormal([896, 4864], 0, 0.02, 'float32', 2) as import('@tensorflow/tfjs-core').Tensor2D;
const down = tf.randomNormal([4864, 896], 0, 0.02, 'float32', 3) as import('@tensorflow/tfjs-core').Tensor2D;
const q = tf.randomNormal([896, 896], 0, 0.02, 'float32', 4) as import('@tensorflow/tfjs-core').Tensor2D;
for (const m of [1, 4, 16, 64]) {
  const x = tf.randomNormal([m, 896]) as import('@tensorflow/tfjs-core').Tensor2D;
  const h = tf.randomNormal([m, 4864]) as import('@tensorflow/tfjs-core').Tensor2D;
  const cases = [
    ['head x wte^T', () => tf.matMul(x, wte, false, true), 3],
    ['up x [896,4864]', () => tf.fused.matMul({ a: x, b: up }), 30],
    ['down h [4864,896]', () => tf.fused.matMul({ a: h, b: down }), 30],
    ['q x [896,896]', () => tf.fused.matMul({ a: x, b: q }), 100],
  ] as const;
  for (const [name, f, n] of cases) {
    const time = (): number => { f().dispose(); const t0 = process.cpuUsage(); for (let i = 0; i < n; i++) f().dispose(); return cpuMs(t0) / n; };
    const nat = time();
    const wasm = lm.withoutNativeGemm(time);
    console.log(`m ${m} ${name}: native ${nat.toFixed(2)} ms, wasm kernels ${wasm.toFixed(2)} ms, native/wasm ${(nat / wasm).toFixed(2)}`);
  }
  x.dispose(); h.dispose();
}
