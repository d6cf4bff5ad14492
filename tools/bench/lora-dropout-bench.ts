/**
 * lora-dropout-bench: CPU cost of LoRA dropout in the training forward + backward (the masks are
 * hashed in JS, lm's lora-dropout.ts). Two layers with Qwen2.5-0.5B's widths (hidden 896, 14 heads,
 * 2 kv heads, intermediate 4864), LoRA r 8 on q/k/v/o, a [4, 256] batch; dropout 0 vs 0.05 in
 * alternating repetitions of the same process; CPU time by process.cpuUsage.
 *
 * Usage: npx tsx --import ./tools/bench/register-hooks.ts tools/bench/lora-dropout-bench.ts [reps]
 */
import * as tf from '@tensorflow/tfjs-core';
import { CausalLM, defineModelConfig, initBackend, loraDropoutMask } from '@emrl/lm';

const B = 4;
const T = 256;
const config = defineModelConfig(
  {
    family: 'llama', modelType: 'qwen2', vocabSize: 2048, hiddenSize: 896, numLayers: 2, numHeads: 14, numKvHeads: 2,
    intermediateSize: 4864, maxPositions: 1024, attentionBias: true, tieWordEmbeddings: true, ropeTheta: 1e6, normEps: 1e-6,
    bosTokenId: 1, eosTokenId: 2, padTokenId: 0,
  },
  'lora-dropout-bench',
);

function cpuMs(fn: () => void): number {
  const c0 = process.cpuUsage();
  fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
}

const backend = await initBackend();
const reps = Number(process.argv[2] ?? 3);
const models = [0, 0.05].map((p) => {
  const m = CausalLM.init(config, 1);
  m.attachLora({ r: 8, alpha: 16, dropout: p, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] }, 2);
  return m;
});
const ids = tf.tensor2d(Array.from({ length: B * T }, (_, i) => 3 + ((i * 7919) % 2000)), [B, T], 'int32');
const step = (m: CausalLM): number =>
  cpuMs(() => {
    const { value, grads } = tf.variableGrads(() => tf.mean(m.forward(ids, { training: { seed: 1, rowOffset: 0 } })) as tf.Scalar, m.getLora()!.variables());
    value.dataSync();
    tf.dispose([value, ...Object.values(grads)]);
  });
step(models[0]!); // warm-up (kernels, allocations)
step(models[1]!);
const times: number[][] = [[], []];
for (let r = 0; r < reps; r++) for (const i of [0, 1]) times[i]!.push(step(models[i]!));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const rows = new Int32Array(B * T).map((_, i) => Math.floor(i / T));
const positions = new Int32Array(B * T).map((_, i) => i % T);
const maskMs = cpuMs(() => loraDropoutMask(0.05, 'model.layers.0.self_attn.q_proj', { seed: 1, rows, positions }, 896));
console.log(JSON.stringify({ backend: backend.name, tokens: B * T, reps, cpuMsDropout0: mean(times[0]!), cpuMsDropout005: mean(times[1]!), ratio: mean(times[1]!) / mean(times[0]!), oneMaskCpuMs: maskMs, masksPerForward: 4 * config.numLayers }, null, 1));
models.forEach((m) => m.dispose());
ids.dispose();
