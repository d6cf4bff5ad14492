/**
 * One layer count of the real-size bench, in its own process (the wasm heap never shrinks, so peak
 * memory is per process): npx tsx tools/bench/real-size-worker.ts --layers N [--reps R]
 * Prints one JSON line: RealSizeResult (real-size-bench.ts) or { layers, error }.
 */
import './register-hooks';

const { wasmHeapBytes } = await import('@emrl/lm');
const { measureEmrlRealSize, realSizePhase } = await import('./real-size-measure');

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 1) throw new Error(`tools/bench/real-size-worker.ts: ${name} must be a positive integer, got ${process.argv[i + 1]}`);
  return v;
};
const layers = arg('--layers', 1);
try {
  console.log(JSON.stringify(await measureEmrlRealSize(layers, arg('--reps', 1))));
} catch (e) {
  const heap = wasmHeapBytes();
  const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
  console.log(JSON.stringify({ layers, error: `${msg} (during ${realSizePhase.now}; wasm heap ${heap ? (heap / 2 ** 30).toFixed(2) : '?'} GiB)` }));
}
