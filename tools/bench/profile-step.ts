import * as tf from '@tensorflow/tfjs-core';
import { CausalLM, defineModelConfig, initBackend, generate } from '@emrl/lm';

const mode = process.argv[2] ?? 'train';
await initBackend({ prefer: 'wasm' });
const cfg = defineModelConfig({ family: 'gpt2', vocabSize: 258, hiddenSize: 96, numLayers: 2, numHeads: 4, maxPositions: 64, padTokenId: 0 });
const model = CausalLM.init(cfg, 0);
const B = Number(process.argv[3] ?? 64), T = 51;
const ids = tf.randomUniform([B, T], 0, 258, 'int32', 1) as tf.Tensor2D;
const targets = tf.randomUniform([B * T], 0, 258, 'int32', 2) as tf.Tensor1D;
const step = (): void => {
  const { value, grads } = tf.variableGrads(() => {
    const logits = tf.reshape(model.forward(ids), [B * T, 258]);
    const lsm = tf.logSoftmax(logits);
    return tf.neg(tf.mean(tf.sum(tf.mul(lsm, tf.oneHot(targets, 258)), -1))) as tf.Scalar;
  }, model.trainableVariables());
  value.dataSync();
  tf.dispose([value, ...Object.values(grads)]);
};
const prompts = Array.from({ length: B }, (_, b) => Array.from({ length: 13 }, (_, i) => (b * 31 + i * 7) % 258));
const gen = async (): Promise<void> => { await generate(model, prompts, { maxNewTokens: 38, temperature: 0, stopTokenIds: [], padTokenId: 0 }); };
const run = async (): Promise<void> => { if (mode === 'train') step(); else await gen(); };
await run(); await run();
const t0 = process.cpuUsage();
for (let i = 0; i < 3; i++) await run();
const u = process.cpuUsage(t0);
console.log(mode, 'cpu ms/iter', ((u.user + u.system) / 3000).toFixed(1));
const prof = await tf.profile(run);
const agg = new Map<string, { n: number; ms: number }>();
for (const k of prof.kernels) {
  const key = `${k.name} ${JSON.stringify(k.inputShapes)}`;
  const e = agg.get(key) ?? { n: 0, ms: 0 };
  e.n++; e.ms += Number(k.kernelTimeMs);
  agg.set(key, e);
}
const byName = new Map<string, { n: number; ms: number }>();
for (const k of prof.kernels) { const e = byName.get(k.name) ?? { n: 0, ms: 0 }; e.n++; e.ms += Number(k.kernelTimeMs); byName.set(k.name, e); }
console.log('kernels', prof.kernels.length, 'total kernel ms', prof.kernels.reduce((s, k) => s + Number(k.kernelTimeMs), 0).toFixed(1));
for (const [k, e] of [...byName].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25)) console.log(e.ms.toFixed(2).padStart(8), String(e.n).padStart(5), k);
console.log('---');
for (const [k, e] of [...agg].sort((a, b) => b[1].ms - a[1].ms).slice(0, Number(process.env.TOP ?? 30))) console.log(e.ms.toFixed(2).padStart(8), String(e.n).padStart(5), k);
