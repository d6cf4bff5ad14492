/**
 * real-vocab-grpo: does one GRPO micro-batch fit at Qwen2's 151,936-token vocabulary on wasm?
 * (issue #11). A small random Qwen2-family model (few layers, small width, tied embedding like
 * Qwen2-0.5B) runs trainer steps (GRPO policy loss with a k3 KL reference, forward + backward +
 * AdamW) on 8 completions x 256 response tokens (+ a prompt) in ONE micro-batch, once on the plain
 * path (whole [B, T, V] logits) and once on the chunked path (lm's modelTokenStats), each in its
 * own process so a wasm out-of-memory crash of one path does not take the other with it.
 *
 * Usage: npx tsx --import ./tools/bench/register-hooks.ts tools/real-vocab-grpo.ts
 *          [--path both|plain|chunked|compare] [--completions 8] [--response 256] [--prompt 32]
 *          [--layers 2] [--width 64] [--steps 2] [--chunk-mib 32]
 * Prints one JSON line per path: ok or the error, CPU seconds per step, wall seconds per step,
 * the wasm heap after the run (it only grows, so it is the peak), peak RSS, tf.memory() bytes.
 * `--path compare` runs both paths in ONE process (for a CPU-time ratio on a shape where the plain
 * path fits; its heap figures are then those of the larger run) and prints chunked / plain.
 */
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { DEFAULT_LOGITS_CHUNK_BYTES, initBackend, packBatchArrays, seededRandom } from '@emrl/lm';
import { GrpoPolicyTerm, modelParameters, Trainer, type Sampler, type TrainBatch } from '@emrl/rl-grpo';
import { memoryFigures, randomQwen2, runPathsInChildren, VOCAB } from './real-vocab-common';

interface Args {
  path: 'both' | 'plain' | 'chunked' | 'compare';
  completions: number;
  response: number;
  prompt: number;
  layers: number;
  width: number;
  steps: number;
  chunkMib: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { path: 'both', completions: 8, response: 256, prompt: 32, layers: 2, width: 64, steps: 2, chunkMib: DEFAULT_LOGITS_CHUNK_BYTES / 2 ** 20 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i]!.replace(/^--/, '').replace(/-(\w)/g, (_, c: string) => c.toUpperCase()) as keyof Args;
    const value = argv[i + 1];
    if (!(key in a) || value === undefined) throw new Error(`tools/real-vocab-grpo.ts: unknown or valueless option ${argv[i]}; see the usage header`);
    if (key === 'path') {
      if (value !== 'both' && value !== 'plain' && value !== 'chunked' && value !== 'compare') {
        throw new Error(`tools/real-vocab-grpo.ts: --path must be both, plain, chunked or compare, got ${value}`);
      }
      a.path = value;
    } else {
      const n = Number(value);
      if (!(n > 0)) throw new Error(`tools/real-vocab-grpo.ts: --${argv[i]!.replace(/^--/, '')} must be a positive number, got ${value}`);
      (a as unknown as Record<string, number>)[key] = n;
    }
  }
  return a;
}

/** The same rows every step: random prompt and response tokens, advantages +-1 within each group of 2. */
function fixedSampler(a: Args): Sampler {
  const r = seededRandom(151936);
  const tok = (n: number): number[] => Array.from({ length: n }, () => 3 + Math.floor(r() * (VOCAB - 3)));
  const prompt = tok(a.prompt);
  const packed = packBatchArrays(
    Array.from({ length: a.completions }, () => prompt),
    Array.from({ length: a.completions }, () => tok(a.response)),
    0,
  );
  const advantages = Float32Array.from({ length: a.completions }, (_, i) => (i % 2 === 0 ? 1 : -1));
  return {
    description: 'fixed random rows',
    collect: async (): Promise<TrainBatch> => ({ packed, groupSize: a.completions, advantages, metrics: {}, generatedTokens: 0 }),
  };
}

async function runOne(a: Args, path: 'plain' | 'chunked'): Promise<Record<string, unknown>> {
  const backend = await initBackend({ prefer: 'wasm' });
  const model = randomQwen2(a.layers, a.width, 'real-vocab-grpo');
  const trainer = new Trainer({
    id: `grpo-${path}`,
    model,
    sampler: fixedSampler(a),
    terms: [new GrpoPolicyTerm({ model, epsLow: 0.2, epsHigh: 0.28, beta: 0.04, importanceLevel: 'token', lossType: 'bnpo', maxCompletionLength: a.response, iterations: 1 })],
    parameters: modelParameters(model),
    optimizer: { lr: 1e-5, weightDecay: 0, gradClip: 1 },
    totalSteps: a.steps,
    temperature: 1,
    // Infinity puts every micro-batch on the plain path (whole logits); the default budget chunks at this vocabulary.
    logitsBudgetBytes: path === 'plain' ? Infinity : a.chunkMib * 2 ** 20,
  });
  const T = a.prompt + a.response - 1;
  const out: Record<string, unknown> = {
    path,
    backend: backend.name,
    shape: `B=${a.completions} T=${T} V=${VOCAB} (layers ${a.layers}, width ${a.width}, ${model.numParameters()} params)`,
    wholeLogitsMiB: Math.round((a.completions * T * VOCAB * 4) / 2 ** 20),
  };
  const steps: { cpuS: number; wallS: number; loss: number; gradNorm: number; numTensors: number }[] = [];
  try {
    for (let s = 0; s < a.steps; s++) {
      const c0 = process.cpuUsage();
      const w0 = performance.now();
      const m = (await trainer.step(s)).metrics;
      const c = process.cpuUsage(c0);
      steps.push({ cpuS: (c.user + c.system) / 1e6, wallS: (performance.now() - w0) / 1000, loss: m['loss']!, gradNorm: m['grad_norm']!, numTensors: tf.memory().numTensors });
    }
    out['ok'] = true;
  } catch (e) {
    out['ok'] = false;
    out['error'] = String((e as Error).message ?? e).slice(0, 300);
  }
  out['steps'] = steps;
  Object.assign(out, memoryFigures());
  trainer.dispose();
  model.dispose();
  return out;
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  if (a.path === 'compare') {
    const chunked = await runOne(a, 'chunked');
    console.log(JSON.stringify(chunked));
    const plain = await runOne(a, 'plain');
    console.log(JSON.stringify(plain));
    // Steady state: the last step of each (the first one also pays kernel and allocator warm-up).
    const last = (r: Record<string, unknown>): number => (r['steps'] as { cpuS: number }[]).at(-1)?.cpuS ?? Number.NaN;
    console.log(JSON.stringify({ cpuRatioChunkedOverPlain: last(chunked) / last(plain) }));
    return;
  }
  if (a.path !== 'both') {
    console.log(JSON.stringify(await runOne(a, a.path)));
    return;
  }
  runPathsInChildren(fileURLToPath(import.meta.url), ['chunked', 'plain']);
}

await main();
