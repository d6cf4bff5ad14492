/**
 * realsize-probe: load time, wasm heap and cached generation speed of a Hugging Face directory at a
 * real size (docs/PERFORMANCE.md, "Real-size run: Qwen2.5-0.5B layout"). Times are CPU time of this
 * process (process.cpuUsage; the wasm backend runs on one thread), so other jobs' load does not
 * distort them; wall time is printed alongside.
 *
 * Usage: npx tsx --import ./tools/bench/register-hooks.ts tools/bench/realsize-probe.ts \
 *          [--model tmp/qwen2.5-0.5b-layout] [--batches 1,2,4] [--new-tokens 16] [--train-rows 1,2]
 *
 * The train step is the EM stage's backward on a LoRA (r 8, q_proj + v_proj) model: the mean token
 * entropy at tau 0.5 of prompt + newTokens tokens, gradients of the adapter's variables only.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { generate, initBackend, loadPretrained, tokenEntropy, wasmHeapBytes } from '@emrl/lm';

const GiB = 1024 ** 3;
const cpuSeconds = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const heap = (): string => `${((wasmHeapBytes() ?? 0) / GiB).toFixed(2)} GiB`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: 'tmp/qwen2.5-0.5b-layout' },
      batches: { type: 'string', default: '1,2,4' },
      'new-tokens': { type: 'string', default: '16' },
      'train-rows': { type: 'string', default: '1,2' },
    },
  });
  const info = await initBackend({ prefer: 'wasm' });
  if (info.name !== 'wasm') throw new Error(`realsize-probe: needs the wasm backend, got ${info.name}`);
  const newTokens = Number(values['new-tokens']);
  let cpu = cpuSeconds();
  let wall = performance.now();
  const { model, tokenizer } = await loadPretrained(resolve(values.model));
  console.log(`load: ${(cpuSeconds() - cpu).toFixed(1)} CPU s, ${((performance.now() - wall) / 1000).toFixed(1)} s wall; wasm heap ${heap()}`);
  const prompt = tokenizer.encode('What is 17 + 25? Put the answer in \\boxed{}.');
  for (const b of values.batches.split(',').map(Number)) {
    const prompts = new Array<number[]>(b).fill(prompt);
    // Every row runs all newTokens steps: no stop tokens, so the step count is fixed.
    await generate(model, prompts, { maxNewTokens: 2, temperature: 1, seed: 1, stopTokenIds: [] }); // warm-up (GEMM modules, XNNPACK operators)
    cpu = cpuSeconds();
    wall = performance.now();
    const out = await generate(model, prompts, { maxNewTokens: newTokens, temperature: 1, seed: 1, stopTokenIds: [] });
    const c = cpuSeconds() - cpu;
    const w = (performance.now() - wall) / 1000;
    console.log(
      `generate batch ${b}, prompt ${prompt.length} + ${newTokens} new tokens: ${out.numGeneratedTokens} tokens in ${c.toFixed(2)} CPU s ` +
        `(${(out.numGeneratedTokens / c).toFixed(2)} tokens per CPU s, ${((c / newTokens) * 1000).toFixed(0)} CPU ms per step), ${w.toFixed(2)} s wall; wasm heap ${heap()}`,
    );
  }
  model.attachLora({ r: 8, alpha: 16, targetModules: ['q_proj', 'v_proj'] }, 1);
  const vars = model.trainableVariables();
  const t = prompt.length + newTokens;
  for (const rows of values['train-rows'].split(',').map(Number)) {
    const ids = Array.from({ length: rows * t }, (_, i) => (i * 7919) % 151643);
    const step = (): void => {
      const { value, grads } = tf.variableGrads(() => tf.mean(tokenEntropy(model.forward(tf.tensor2d(ids, [rows, t], 'int32')), 0.5)) as tf.Scalar, vars);
      value.dataSync();
      tf.dispose([value, ...Object.values(grads)]);
    };
    step(); // warm-up
    cpu = cpuSeconds();
    wall = performance.now();
    step();
    const c = cpuSeconds() - cpu;
    console.log(
      `EM loss forward + backward (LoRA), ${rows} x ${t} tokens: ${c.toFixed(2)} CPU s (${((c / (rows * t)) * 1000).toFixed(0)} CPU ms per token), ` +
        `${((performance.now() - wall) / 1000).toFixed(2)} s wall; wasm heap ${heap()}`,
    );
  }
  const peakRss = process.resourceUsage().maxRSS * 1024;
  console.log(`peak RSS ${(peakRss / GiB).toFixed(2)} GiB, wasm heap ${heap()}`);
  model.dispose();
}

await main();
