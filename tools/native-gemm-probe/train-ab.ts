/**
 * A/B of a full training step (forward + backward, next-token cross-entropy, grads of all weights:
 * the step of tools/bench/model-bench.ts) on shapes (a) and (b), with the native GEMM registered for
 * BatchMatMul and _FusedMatMul vs emrl's wasm kernels, steps interleaved in one process (CPU time),
 * against PyTorch 1 thread (tools/bench/torch_bench.py, CPU time). Native with 2 threads: wall time.
 * Also prints how far the native step's loss and gradients are from the wasm step's.
 *
 *   bash tools/native-gemm-probe/build.sh
 *   npx tsx --import ./tools/bench/register-hooks.ts tools/native-gemm-probe/train-ab.ts [reps] [--no-torch]
 */
import * as tf from '@tensorflow/tfjs-core';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { CausalLM, defineModelConfig, initBackend } from '@emrl/lm';
import { cpuMs, median } from '../bench/stats';
import { trainShapes, VOCAB, type TrainShape } from '../bench/model-bench';
import { findTorchPython, runTorchBench } from '../bench/torch-runner';
import { requireNativeGemm, type NativeGemm } from './native';
import { withNativeMatMul } from './native-matmul';

type Mode = 'wasm' | 'native1' | 'native2';

interface StepOut {
  loss: number;
  grads: Float32Array[];
}

function makeStep(s: TrainShape): { step: (keep: boolean) => StepOut | null; dispose: () => void } {
  const model = CausalLM.init(
    defineModelConfig({ family: 'gpt2', vocabSize: VOCAB, hiddenSize: s.width, numLayers: s.layers, numHeads: s.heads, maxPositions: Math.max(64, s.seq), padTokenId: 0 }),
    0,
  );
  const ids = tf.randomUniform([s.batch, s.seq], 0, VOCAB, 'int32', 1) as tf.Tensor2D;
  const targets = tf.randomUniform([s.batch * s.seq], 0, VOCAB, 'int32', 2) as tf.Tensor1D;
  const vars = model.trainableVariables();
  const step = (keep: boolean): StepOut | null => {
    const { value, grads } = tf.variableGrads(() => {
      const logits = tf.reshape(model.forward(ids), [s.batch * s.seq, VOCAB]); // [B*T, V]
      const lsm = tf.logSoftmax(logits);
      return tf.neg(tf.mean(tf.sum(tf.mul(lsm, tf.oneHot(targets, VOCAB)), -1))) as tf.Scalar;
    }, vars);
    const loss = value.dataSync()[0]!;
    const out = keep ? { loss, grads: vars.map((v) => grads[v.name]!.dataSync() as Float32Array) } : null;
    tf.dispose([value, ...Object.values(grads)]);
    return out;
  };
  return { step, dispose: () => (tf.dispose([ids, targets]), model.dispose()) };
}

function runMode(gemm: NativeGemm, mode: Mode, fn: () => void): void {
  if (mode === 'wasm') fn();
  else withNativeMatMul(gemm, mode === 'native1' ? 1 : 2, fn);
}

/** Largest |native - wasm| over the loss and every gradient, relative to the largest |wasm| of each. */
function maxRelDiff(x: StepOut, y: StepOut): number {
  let worst = Math.abs(x.loss - y.loss) / Math.max(1e-12, Math.abs(y.loss));
  x.grads.forEach((g, i) => {
    const h = y.grads[i]!;
    let d = 0;
    let scale = 0;
    for (let j = 0; j < g.length; j++) {
      d = Math.max(d, Math.abs(g[j]! - h[j]!));
      scale = Math.max(scale, Math.abs(h[j]!));
    }
    worst = Math.max(worst, d / Math.max(1e-12, scale));
  });
  return worst;
}

async function main(): Promise<void> {
  const reps = Number(process.argv[2] ?? 5);
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`tools/native-gemm-probe/train-ab: reps must be a positive integer, got ${process.argv[2]}`);
  const withTorch = !process.argv.includes('--no-torch');
  await initBackend({ prefer: 'wasm' });
  const gemm = requireNativeGemm();
  const load = (): string => os.loadavg().map((l) => l.toFixed(1)).join(' ');
  console.log(`# native GEMM training A/B  ${new Date().toISOString()}  load avg ${load()}`);
  const rows: { s: TrainShape; cpu: Record<Mode, number>; wall2: number; diff: number }[] = [];
  for (const s of trainShapes(false)) {
    const { step, dispose } = makeStep(s);
    try {
      const ref = step(true)!;
      let nat: StepOut | null = null;
      withNativeMatMul(gemm, 1, () => (nat = step(true)));
      const diff = maxRelDiff(nat!, ref);
      const cpu: Record<Mode, number[]> = { wasm: [], native1: [], native2: [] };
      const wall2: number[] = [];
      for (let r = 0; r < reps; r++) {
        for (const mode of ['wasm', 'native1', 'native2'] as Mode[]) {
          const t0 = process.cpuUsage();
          const w0 = performance.now();
          runMode(gemm, mode, () => step(false));
          cpu[mode].push(cpuMs(t0));
          if (mode === 'native2') wall2.push(performance.now() - w0);
        }
      }
      rows.push({ s, cpu: { wasm: median(cpu.wasm), native1: median(cpu.native1), native2: median(cpu.native2) }, wall2: median(wall2), diff });
      console.log(`${s.name}: done (load avg ${load()})`);
    } finally {
      dispose();
    }
  }
  const py = withTorch ? findTorchPython() : null;
  const torch = py ? runTorchBench(py, [1], false) : null;
  const torchTps = (name: string): number | undefined => torch?.rows.find((r) => r.name === name && r.threads === 1)?.tokens_per_s;
  console.log(`\nmedian of ${reps} interleaved steps; load avg at end ${load()}${torch ? `; torch ${torch.version} 1 thread (${py})` : ''}\n`);
  console.log('| shape | wasm ms (tok/s) | native 1t ms (tok/s) | native 2t wall ms (tok/s) | step speed-up 1t | torch 1t tok/s | wasm/torch | native 1t/torch | max rel. diff of loss+grads |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const { s, cpu, wall2, diff } of rows) {
    const tokens = s.batch * s.seq;
    const tps = (ms: number): number => (tokens * 1000) / ms;
    const t = torchTps(s.name);
    const cell = (ms: number): string => `${ms.toFixed(1)} (${Math.round(tps(ms)).toLocaleString('en-US')})`;
    console.log(
      `| ${s.name} ${s.layers}L x ${s.width}, batch ${s.batch} x ${s.seq} | ${cell(cpu.wasm)} | ${cell(cpu.native1)} | ${cell(wall2)} | ${(cpu.wasm / cpu.native1).toFixed(2)}x | ${t ? Math.round(t).toLocaleString('en-US') : 'n/a'} | ${t ? (tps(cpu.wasm) / t).toFixed(2) : 'n/a'} | ${t ? (tps(cpu.native1) / t).toFixed(2) : 'n/a'} | ${diff.toExponential(1)} |`,
    );
  }
}

await main();
