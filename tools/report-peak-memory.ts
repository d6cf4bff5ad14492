/**
 * report-peak-memory: a Node preload that prints, when the process exits, its peak RSS and the size
 * of tfjs-backend-wasm's heap (a WebAssembly.Memory only grows, so its final size is its peak).
 *
 * Usage: npx tsx --import ./tools/bench/register-hooks.ts --import ./tools/report-peak-memory.ts \
 *          apps/pipeline/src/main.ts run examples/qwen2.5-0.5b-layout/pipeline.yaml
 */
import * as tf from '@tensorflow/tfjs-core';
import { wasmHeapBytes } from '@emrl/lm';

const GiB = 1024 ** 3;
process.on('exit', () => {
  const heap = tf.findBackend('wasm') ? wasmHeapBytes() : null;
  const rss = process.resourceUsage().maxRSS * 1024;
  const cpu = process.cpuUsage();
  console.error(
    `[report-peak-memory] peak RSS ${(rss / GiB).toFixed(2)} GiB, wasm heap ${heap === null ? 'n/a' : `${(heap / GiB).toFixed(2)} GiB`}, ` +
      `CPU ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s`,
  );
});
