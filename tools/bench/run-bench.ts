import * as tf from '@tensorflow/tfjs-core';
import { Command } from 'commander';
import os from 'node:os';
import { initBackend } from '@emrl/lm';
import { benchDataParallel } from './data-parallel-bench';
import { benchKernel, kernelCases, type KernelResult } from './kernel-bench';
import { benchSampling } from './sampling-bench';
import { benchGenerate, benchTrain, trainShapes, type GenResult, type TrainResult } from './model-bench';
import { issue15Rows, issue15Table } from './issue15-table';
import { printRealSize } from './real-size-bench';
import { benchEmrlSteps, benchTorchSteps, type StepTiming } from './step-bench';
import { fmt, table } from './stats';
import { findTorchPython, runTorchBench, type TorchRow } from './torch-runner';

interface Options {
  quick: boolean;
  torch: boolean;
  kernels: boolean;
  train: boolean;
  gen: boolean;
  parallel: boolean;
  steps: boolean;
  realSize: boolean;
  realSizeLayers?: string;
  reps?: string;
  genWarmup: string;
  filter?: string;
}

const program = new Command()
  .name('npm run bench --')
  .description('wasm kernel fixes, training and generation throughput, and the PyTorch reference (docs/PERFORMANCE.md)')
  .option('--quick', 'fewer repetitions, smaller shape (b) batch', false)
  .option('--no-torch', 'skip the PyTorch reference')
  .option('--no-kernels', 'skip the kernel table')
  .option('--no-train', 'skip forward+backward throughput')
  .option('--no-gen', 'skip generation throughput')
  .option('--no-parallel', 'skip data-parallel training (wall time, 1 vs 2 threads)')
  .option('--no-steps', 'skip the end-to-end EM / GRPO step on the embedded model (vs PyTorch)')
  .option('--real-size', 'also run the Qwen2.5-0.5B-shaped model (random weights; slow, opt-in)', false)
  .option('--real-size-layers <list>', 'layer counts of the real-size model, comma-separated (default: 1,2,4,24)')
  .option('--reps <n>', 'repetitions per measurement (median reported)')
  .option('--gen-warmup <ms>', 'CPU ms of untimed generations before each timed generation row (JIT warm-up; 0 = none beyond the first three)', '1000')
  .option('--filter <text>', 'only kernel cases whose kernel or shape contains this text');

async function main(): Promise<void> {
  const opts = program.parse(process.argv).opts<Options>();
  const reps = opts.reps ? Number(opts.reps) : opts.quick ? 3 : 5;
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`tools/bench: --reps must be a positive integer, got ${opts.reps}`);
  const info = await initBackend({ prefer: 'wasm' });
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(`# emrl bench  ${new Date().toISOString()}`);
  console.log(`machine: ${os.cpus().length} x ${cpu}, node ${process.version}, load avg ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  console.log(`tfjs ${info.tfjsVersion} backend ${info.tfjsBackend} (threads: 1, SIMD: ${tf.env().getAsync ? String(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) : '?'}); fixes: ${info.kernelFixes.join(', ')}; native GEMM: ${info.nativeGemm.used ? `on (products > 2^18 multiply-adds; EMRL_NATIVE_GEMM=0 turns it off)` : `off (${info.nativeGemm.reason ?? ''})`}`);
  console.log(`emrl times are CPU time of this process (the machine is shared; wasm runs on one thread), median of ${reps} repetitions`);
  console.log('PyTorch: CPU time with 1 thread, wall time with 2 threads (BLAS/OpenMP threads pinned)\n');

  if (opts.kernels) {
    const rows: KernelResult[] = [];
    const cases = kernelCases().filter((c) => !opts.filter || `${c.kernel} ${c.what}`.includes(opts.filter));
    for (const c of cases) rows.push(benchKernel(c, reps, opts.quick ? 15 : 40));
    console.log('## wasm kernel fixes vs the untouched kernel (same run)\n');
    console.log(
      table(
        ['kernel', 'shape', 'fixed ms', 'stock ms', 'speed-up'],
        rows.map((r) => [r.kernel, r.what, fmt(r.fixedMs, 2), r.stockMs === null ? 'missing' : fmt(r.stockMs, 2), r.speedup === null ? 'n/a' : `${fmt(r.speedup)}x`]),
      ),
    );
    console.log('');
  }

  const train: TrainResult[] = [];
  if (opts.train) for (const s of trainShapes(opts.quick)) train.push(benchTrain(s, s.name === 'train-b' ? Math.max(1, Math.ceil(reps / 2)) : reps));
  const gen: GenResult[] = [];
  if (opts.gen) {
    const warm = Number(opts.genWarmup);
    if (!Number.isFinite(warm) || warm < 0) throw new Error(`tools/bench: --gen-warmup must be a non-negative number of ms, got ${opts.genWarmup}`);
    for (const b of [1, 16, 64]) {
      gen.push(await benchGenerate(b, true, reps, true, warm));
      gen.push(await benchGenerate(b, true, reps, false, warm));
    }
    gen.push(await benchGenerate(16, false, Math.max(1, Math.ceil(reps / 2)), true, warm));
    if (!opts.quick) gen.push(await benchGenerate(64, false, 1, true, warm));
  }

  let torchRows: TorchRow[] = [];
  let torchNote = '';
  if (opts.torch && (opts.train || opts.gen)) {
    const py = findTorchPython();
    if (py) {
      const t = runTorchBench(py, [1, 2], opts.quick);
      torchRows = t.rows;
      torchNote = `PyTorch ${t.version} (${py}), CPU, float32`;
    } else torchNote = 'PyTorch not found (apt-get install -y python3-torch libopenblas0-pthread); ratios skipped';
  }
  // Unfused cached runs compare with the same torch row as the fused ones.
  const torchTps = (name: string, threads: number): number | undefined =>
    torchRows.find((r) => r.name === name.replace(/-unfused$/, '') && r.threads === threads)?.tokens_per_s;
  const ratio = (ours: number, name: string, threads: number): string => {
    const t = torchTps(name, threads);
    return t ? `${fmt(ours / t, 2)}` : '-';
  };

  if (train.length) {
    console.log('## forward + backward (GPT-2 family, vocab 258, cross-entropy, grads of all weights)\n');
    console.log('FLOPs/token = 6 * (12 L D^2 + V D) + 12 L T D  (weight matmuls fwd+bwd, plus attention T x T)\n');
    console.log(
      table(
        ['run', 'shape', 'ms/step', 'tokens/s', 'GFLOP/s', 'torch 1t tok/s', 'emrl/torch 1t', 'torch 2t tok/s', 'emrl/torch 2t'],
        train.map((r) => [r.name, r.shape, fmt(r.ms), fmt(r.tokensPerS, 0), fmt(r.gflops, 2), fmt(torchTps(r.name, 1) ?? NaN, 0), ratio(r.tokensPerS, r.name, 1), fmt(torchTps(r.name, 2) ?? NaN, 0), ratio(r.tokensPerS, r.name, 2)]),
      ),
    );
    console.log('');
  }
  if (gen.length) {
    const speedups = [16, 64].flatMap((b) => {
      const c = gen.find((g) => g.name === `gen-cache-b${b}`);
      const n = gen.find((g) => g.name === `gen-nocache-b${b}`);
      return c && n ? [`batch ${b}: ${fmt(n.ms / c.ms, 1)}x`] : [];
    });
    console.log('## generation, shape (a), greedy, 13-token prompts, 38 new tokens\n');
    console.log(`emrl rows timed after ${opts.genWarmup} ms of untimed generations (JIT warm-up, --gen-warmup; at most 30) besides the first three\n`);
    console.log(
      table(
        ['run', 'batch', 'dispatches/step', 'ms', 'new tokens/s', 'torch 1t tok/s', 'emrl/torch 1t', 'torch 2t tok/s', 'emrl/torch 2t'],
        gen.map((r) => [
          r.name,
          String(r.batch),
          r.dispatchesPerStep === null ? '-' : fmt(r.dispatchesPerStep, 0),
          fmt(r.ms),
          fmt(r.tokensPerS, 0),
          fmt(torchTps(r.name, 1) ?? NaN, 0),
          ratio(r.tokensPerS, r.name, 1),
          fmt(torchTps(r.name, 2) ?? NaN, 0),
          ratio(r.tokensPerS, r.name, 2),
        ]),
      ),
    );
    const fusedGain = [1, 16, 64].flatMap((b) => {
      const f = gen.find((g) => g.name === `gen-cache-b${b}`);
      const u = gen.find((g) => g.name === `gen-cache-b${b}-unfused`);
      return f && u ? [`batch ${b}: ${fmt(u.ms / f.ms, 2)}x`] : [];
    });
    if (fusedGain.length) console.log(`\nFused decoding (in-place cache, fused kernels) over plain tfjs ops, same run: ${fusedGain.join(', ')}`);
    if (speedups.length) console.log(`\nKV cache speed-up over recomputing the whole prefix each step: ${speedups.join(', ')}`);
    console.log('');
  }
  if (opts.gen) {
    const rows = benchSampling([258, 32_000, 151_936], 50, reps);
    console.log('## top-k sampling in JS (one token, top-k 50, T = 1; wall time per token)\n');
    console.log(
      table(
        ['vocab', 'kthLargest ms', 'full sort ms (old)', 'speed-up', 'whole sampleToken ms'],
        rows.map((r) => [r.vocab.toLocaleString('en-US'), fmt(r.selectMs, 3), fmt(r.sortMs, 3), `${fmt(r.speedup, 1)}x`, fmt(r.sampleTokenMs, 3)]),
      ),
    );
    console.log('');
  }
  let parallel: Awaited<ReturnType<typeof benchDataParallel>> = [];
  if (opts.parallel) {
    const rows = await benchDataParallel([32, 64], [1, 2], opts.quick ? 10 : 30);
    parallel = rows;
    console.log('## data-parallel training, shape (a) 2 x 96, batch x 51 tokens (trainCausalLM `workers`; WALL time per step, median)\n');
    console.log(
      table(
        ['batch', 'threads', 'ms/step', 'tokens/s', 'speed-up vs 1 thread'],
        rows.map((r) => [String(r.batch), String(r.workers), fmt(r.msPerStep), fmt(r.tokensPerS, 0), `${fmt(r.speedup, 2)}x`]),
      ),
    );
    console.log(`(wall time depends on what else runs on the machine: load avg ${os.loadavg().map((l) => l.toFixed(1)).join(' ')})\n`);
  }
  let steps: StepTiming[] = [];
  if (opts.steps) {
    const stepReps = opts.quick ? 5 : 10;
    steps = await benchEmrlSteps(stepReps, [1, 2]);
    const py = opts.torch ? findTorchPython() : null;
    let check = '';
    if (py) {
      const t = await benchTorchSteps(py, [1, 2], stepReps);
      steps.push(...t.rows);
      check = `; PyTorch's token log-probs match emrl's to ${t.maxLogprobDiff.toExponential(1)}`;
    }
    console.log(`## end-to-end trainer steps on the embedded model (em-warmstart settings; median of ${stepReps} steps after 2 untimed)\n`);
    console.log('EM: 8 rollouts of one prompt at T = 1, token entropy at tau 0.5, AdamW. GRPO: 8 prompts x 8 completions, mu = 2, k3 KL (beta 0.04), AdamW.');
    console.log('rollout = sampling + rewards + packing; score = old / reference log-probs; backward + update = the rest (forward, loss, backward, clipping, AdamW, x mu)\n');
    console.log(
      table(
        ['step', 'impl', 'ms', 'wall ms', 'rollout ms', 'score ms', 'backward + update ms', 'rows x seq', 'generated tokens'],
        steps.map((r) => [r.name, r.impl === 'emrl' ? `emrl ${r.threads}t` : `PyTorch ${r.threads}t`, fmt(r.ms), r.wallMs === undefined ? '-' : fmt(r.wallMs), fmt(r.rolloutMs), fmt(r.scoreMs), fmt(r.updateMs), `${r.rows} x ${fmt(r.seqLen, 0)}`, fmt(r.generatedTokens, 0)]),
      ),
    );
    console.log(`\n(ms: emrl 1t and PyTorch 1t CPU time, emrl 2t (--threads 2: rows of every pass shared with a worker thread) and PyTorch 2t wall time; phases in the same unit as ms; "wall ms": emrl's wall time, where 1t and 2t compare${check})\n`);
  }

  if (opts.realSize) {
    const layers = (opts.realSizeLayers ?? '1,2,4,24').split(',').map(Number);
    if (!layers.every((l) => Number.isInteger(l) && l > 0)) throw new Error(`tools/bench: --real-size-layers must be positive integers separated by commas, got ${opts.realSizeLayers}`);
    printRealSize(layers, opts.torch ? findTorchPython() : null, 1);
  }

  const summary = issue15Rows({ train, gen, parallel, steps, torch: torchRows });
  if (summary.length) {
    console.log('## issue #15 table (this run)\n');
    console.log(issue15Table(summary));
    console.log('\n(emrl 1 thread and PyTorch 1t: CPU time; the data-parallel row and PyTorch 2t: wall time, meaningful only on an idle machine)\n');
  }
  if (torchNote) console.log(torchNote);
}

main().catch((e: unknown) => {
  // Print only the message: the wasm backend's uncaughtException handler would dump its source.
  console.error(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exitCode = 1;
});
