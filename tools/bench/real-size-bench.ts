import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { REAL_SIZE, type RealSizeResult } from './real-size-measure';
import { fmt, table } from './stats';
import { runTorchScript } from './torch-runner';

/**
 * The real-size rows of issue #15: a Qwen2.5-0.5B-shaped model (random weights) at several layer
 * counts, each in its own process (peak memory is per process), emrl against PyTorch 1 thread.
 * When the full 24 layers do not run, the largest counts that do are fitted per layer
 * (least squares, value = a + b * layers) and extrapolated to 24, marked as such.
 */

export interface RealSizeFailure {
  layers: number;
  error: string;
}

export type RealSizeOutcome = RealSizeResult | RealSizeFailure;

export interface TorchRealSize {
  layers: number;
  forward_tps: number;
  decode_tps: Record<string, number>;
  lora_step_ms: number;
  peak_rss: number;
}

/** Least-squares line y = a + b x through the points (at least two distinct x). */
export function linearFit(xs: number[], ys: number[]): { a: number; b: number } {
  if (xs.length !== ys.length || xs.length < 2) throw new Error(`tools/bench/real-size-bench: a line needs >= 2 points, got ${xs.length} x and ${ys.length} y`);
  const n = xs.length;
  const mx = xs.reduce((s, x) => s + x, 0) / n;
  const my = ys.reduce((s, y) => s + y, 0) / n;
  const sxx = xs.reduce((s, x) => s + (x - mx) ** 2, 0);
  if (sxx === 0) throw new Error('tools/bench/real-size-bench: a line needs two distinct layer counts');
  const b = xs.reduce((s, x, i) => s + (x - mx) * (ys[i]! - my), 0) / sxx;
  return { a: my - b * mx, b };
}

/**
 * emrl at `layers` extrapolated from measured counts: times per token (1 / throughput) and memory
 * are linear in the layer count; throughputs are returned as 1 / the extrapolated time.
 */
export function extrapolate(measured: RealSizeResult[], layers: number): RealSizeResult {
  const xs = measured.map((r) => r.layers);
  const at = (ys: number[]): number => {
    const { a, b } = linearFit(xs, ys);
    return a + b * layers;
  };
  const decodeTps: Record<string, number> = {};
  for (const k of Object.keys(measured[0]!.decodeTps)) decodeTps[k] = 1 / at(measured.map((r) => 1 / r.decodeTps[k]!));
  const heaps = measured.map((r) => r.wasmHeap);
  return {
    layers,
    forwardTps: 1 / at(measured.map((r) => 1 / r.forwardTps)),
    decodeTps,
    loraStepMs: at(measured.map((r) => r.loraStepMs)),
    peakRss: at(measured.map((r) => r.peakRss)),
    wasmHeap: heaps.every((h): h is number => h !== null) ? at(heaps) : null,
  };
}

const isFailure = (r: RealSizeOutcome): r is RealSizeFailure => 'error' in r;

/** Runs real-size-worker.ts for one layer count in a child process (same tsx loader as this one). */
export function runEmrlRealSize(layers: number, reps: number): RealSizeOutcome {
  const worker = fileURLToPath(new URL('./real-size-worker.ts', import.meta.url));
  const r = spawnSync(process.execPath, [...process.execArgv, worker, '--layers', String(layers), '--reps', String(reps)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (last.startsWith('{')) return JSON.parse(last) as RealSizeOutcome;
  return { layers, error: `worker exited with ${r.status ?? r.signal}: ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' / ').slice(0, 400)}` };
}

const gib = (bytes: number | null): string => (bytes === null ? '-' : `${(bytes / 2 ** 30).toFixed(2)} GiB`);

/** Measures every layer count on both sides and prints the table (and the extrapolation to 24). */
export function printRealSize(layerCounts: number[], python: string | null, reps: number): void {
  const s = REAL_SIZE;
  console.log(`## real size: Qwen2.5-0.5B shape (hidden ${s.hidden}, ${s.heads}/${s.kvHeads} heads, intermediate ${s.intermediate}, vocab ${s.vocab}, tied), random weights, one process per row\n`);
  console.log(`forward: batch 1 x ${s.forwardTokens} tokens; decoding: greedy, KV cache, ${s.promptTokens}-token prompts, ${s.newTokens} new tokens; LoRA step: r ${s.loraRank} on ${s.loraModules.join(',')}, batch 1 x ${s.loraTokens}, cross-entropy, AdamW\n`);
  const header = ['layers', 'impl', 'forward tok/s', 'decode b1 new tok/s', 'decode b4 new tok/s', 'LoRA step ms', 'peak RSS', 'wasm heap'];
  const row = (layers: string, impl: string, r: { forward: number; b1: number; b4: number; lora: number; rss: number; heap: number | null }): string[] => [
    layers,
    impl,
    fmt(r.forward, 1),
    fmt(r.b1, 2),
    fmt(r.b4, 2),
    fmt(r.lora, 0),
    gib(r.rss),
    gib(r.heap),
  ];
  const ok: RealSizeResult[] = [];
  const rows: string[][] = [];
  for (const l of layerCounts) {
    // Each layer count is printed as soon as it is measured (a long run keeps what it finished).
    const e = runEmrlRealSize(l, reps);
    const t = python ? runTorchScript<TorchRealSize>(python, 'torch_real_size.py', ['--layers', String(l), '--reps', String(reps), '--shape', JSON.stringify(REAL_SIZE)], 1) : undefined;
    const mine: string[][] = [];
    if (isFailure(e)) mine.push([String(l), 'emrl', `failed: ${e.error}`, '', '', '', '', '']);
    else {
      ok.push(e);
      mine.push(row(String(l), 'emrl', { forward: e.forwardTps, b1: e.decodeTps['b1']!, b4: e.decodeTps['b4']!, lora: e.loraStepMs, rss: e.peakRss, heap: e.wasmHeap }));
    }
    if (t) mine.push(row(String(l), 'PyTorch 1t', { forward: t.forward_tps, b1: t.decode_tps['b1']!, b4: t.decode_tps['b4']!, lora: t.lora_step_ms, rss: t.peak_rss, heap: null }));
    if (t && !isFailure(e)) {
      mine.push([String(l), 'emrl / PyTorch', fmt(e.forwardTps / t.forward_tps, 2), fmt(e.decodeTps['b1']! / t.decode_tps['b1']!, 2), fmt(e.decodeTps['b4']! / t.decode_tps['b4']!, 2), fmt(e.loraStepMs / t.lora_step_ms, 2), fmt(e.peakRss / t.peak_rss, 2), '']);
    }
    rows.push(...mine);
    console.log(`real size, ${l} layer(s) measured (load avg ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}):\n${table(header, mine)}\n`);
  }
  const full = s.fullLayers;
  let note = '';
  if (!ok.some((r) => r.layers === full) && new Set(ok.map((r) => r.layers)).size >= 2) {
    const x = extrapolate(ok, full);
    rows.push(row(`${full} (extrapolated)`, 'emrl', { forward: x.forwardTps, b1: x.decodeTps['b1']!, b4: x.decodeTps['b4']!, lora: x.loraStepMs, rss: x.peakRss, heap: x.wasmHeap }));
    note = `\n${full} layers extrapolated by a least-squares line per layer through the emrl runs at ${ok.map((r) => r.layers).join(', ')} layers (times per token and memory linear in layers).`;
  }
  console.log(table(header, rows));
  console.log(`(CPU time; median of ${reps} after one warm-up; ratios are emrl / PyTorch of each column's own quantity)${note}\n`);
}
