/**
 * decode-b1-probe: CPU time of cached greedy generation at small batch on the embedded shape (a)
 * (13-token prompts, 38 new tokens), the prefill alone (maxNewTokens 1), and their difference per
 * decoding step. `npx tsx tools/bench/decode-b1-probe.ts [batch] [reps]`; run under
 * `node --cpu-prof` (NODE_OPTIONS) to profile a step.
 */
import { CausalLM, defineModelConfig, generate, initBackend } from '@emrl/lm';

await initBackend({ prefer: 'wasm' });
const batch = Number(process.argv[2] ?? 1);
const reps = Number(process.argv[3] ?? 200);
const cfg = defineModelConfig({ family: 'gpt2', vocabSize: 258, hiddenSize: 96, numLayers: 2, numHeads: 4, maxPositions: 64, padTokenId: 0 });
const model = CausalLM.init(cfg, 0);
const prompts = Array.from({ length: batch }, (_, b) => Array.from({ length: 13 }, (_, i) => (b * 31 + i * 7) % 258));
const opts = { maxNewTokens: 38, temperature: 0, stopTokenIds: [], padTokenId: 0 };

async function cpuMsPer(maxNewTokens: number): Promise<number> {
  for (let i = 0; i < Number(process.env.WARM ?? 5); i++) await generate(model, prompts, { ...opts, maxNewTokens });
  const t0 = process.cpuUsage();
  for (let i = 0; i < reps; i++) await generate(model, prompts, { ...opts, maxNewTokens });
  const u = process.cpuUsage(t0);
  return (u.user + u.system) / 1000 / reps;
}

const first = (await generate(model, prompts, opts)).tokens[0]!.join(',');
const full = await cpuMsPer(38);
const prefill = process.env['PROBE_FULL_ONLY'] ? 0 : await cpuMsPer(1); // PROBE_FULL_ONLY=1: profile whole generations only
const stepMs = (full - prefill) / 37;
console.log(`batch ${batch}: generate ${full.toFixed(3)} ms, prefill ${prefill.toFixed(3)} ms, step ${(stepMs * 1000).toFixed(1)} us, ${((batch * 38 * 1000) / full).toFixed(0)} new tok/s (CPU)`);
console.log(`row 0 tokens: ${first}`);
model.dispose();
