/**
 * What tools/real-vocab-grpo.ts and tools/real-vocab-diagnostics.ts share (issue #11): the random
 * Qwen2-family model at the 151,936-token vocabulary, the memory figures of a run, and running each
 * path (plain / chunked) in its own child process.
 */
import { spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs-core';
import { CausalLM, defineModelConfig, wasmHeapBytes } from '@emrl/lm';

/** Qwen2's vocabulary. */
export const VOCAB = 151936;

/** A small random Qwen2-family model (GQA, q/k/v bias, tied embedding like Qwen2-0.5B) at VOCAB. */
export function randomQwen2(layers: number, width: number, name: string): CausalLM {
  const heads = Math.max(2, width / 32);
  const config = defineModelConfig(
    { family: 'llama', modelType: 'qwen2', vocabSize: VOCAB, hiddenSize: width, numLayers: layers, numHeads: heads, numKvHeads: heads / 2, intermediateSize: 2 * width, maxPositions: 4096, attentionBias: true, tieWordEmbeddings: true, ropeTheta: 1e6, normEps: 1e-6, padTokenId: 0 },
    name,
  );
  return CausalLM.init(config, 0);
}

const mib = (bytes: number): number => Math.round(bytes / 2 ** 20);

/** The wasm heap (emscripten only grows it, so this is the peak), tf.memory() bytes and peak RSS, in MiB. */
export function memoryFigures(): { wasmHeapMiB: number; tfMemoryMiB: number; peakRssMiB: number } {
  return { wasmHeapMiB: mib(wasmHeapBytes() ?? 0), tfMemoryMiB: mib(tf.memory().numBytes), peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) };
}

/**
 * Re-runs this script once per path with `--path <path>` in a child process (a wasm abort on the
 * plain path must not end the measurement) and prints each child's last JSON line, or its failure.
 */
export function runPathsInChildren(script: string, paths: readonly string[]): void {
  for (const path of paths) {
    const argv = process.argv.slice(2).filter((_, i, all) => all[i] !== '--path' && all[i - 1] !== '--path');
    const res = spawnSync(process.execPath, [...process.execArgv, script, ...argv, '--path', path], { encoding: 'utf8', maxBuffer: 1 << 24 });
    const line = res.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
    if (line) console.log(line);
    else console.log(JSON.stringify({ path, ok: false, exit: res.status, signal: res.signal, error: (res.stderr || '').trim().split('\n').slice(-3).join(' | ').slice(0, 300) }));
  }
}
