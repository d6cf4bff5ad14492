/**
 * Builds the embedded base model from scratch (about 4 minutes on 2 cores): a 2-layer GPT-2-style decoder pretrained on noisy
 * modchain documents (embedded-lab.md), deterministic from its seed, then evaluated on the fixed
 * test split and written as a Hugging Face directory with a model card (MODEL.md + card.json).
 *
 *   npm run build:base-model                                  # the committed recipe
 *   npm run build:base-model -- --seed 3 --out /tmp/base      # another seed, elsewhere
 *   npm run build:base-model -- --eval-only models/modchain-byte   # re-evaluate a built model
 *   npm run build:base-model -- --eval-only models/modchain-byte --write-card   # ... and rewrite its card
 */
import { Command } from 'commander';
import { mkdir, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  ByteTokenizer,
  CausalLM,
  defineModelConfig,
  initBackend,
  loadPretrained,
  savePretrained,
  trainCausalLM,
  writeFileAtomic,
  type TrainBatch,
} from '@emrl/lm';
import * as tf from '@tensorflow/tfjs-core';
import { createTask, evaluate, type ModchainTask, type Policy, type Task } from '@emrl/rl-grpo';
import { buildModelCard, evaluateBaseModel, ModelCardSchema, type BaseModelRecipe } from './base-model/card';

const program = new Command()
  .name('build-base-model')
  .description('Pretrain the embedded modchain base model and write it with its model card.')
  .option('--out <dir>', 'output directory', 'models/modchain-byte')
  .option('--seed <n>', 'model init + data seed', (v) => parseInt(v, 10), 1)
  .option('--steps <n>', 'optimizer steps (cosine schedule length)', (v) => parseInt(v, 10), 2000)
  .option('--batch <n>', 'documents per step', (v) => parseInt(v, 10), 64)
  .option('--lr <x>', 'peak learning rate', parseFloat, 2.5e-3)
  .option('--warmup <n>', 'linear warmup steps', (v) => parseInt(v, 10), 100)
  .option('--beta2 <x>', 'AdamW beta2 (0.95 as in nanoGPT: faster on this task than 0.999, see MODEL.md)', parseFloat, 0.95)
  .option('--workers <n>', 'data-parallel threads (default 2 on wasm/cpu, 1 on tfjs-node, which threads by itself; the result depends on the count through float summation order, so the card records it)', (v) => parseInt(v, 10))
  .option('--width <n>', 'hidden size', (v) => parseInt(v, 10), 96)
  .option('--layers <n>', 'decoder layers', (v) => parseInt(v, 10), 2)
  .option('--heads <n>', 'attention heads', (v) => parseInt(v, 10), 4)
  .option('--noise <p>', 'wrong-step probability in pretraining docs', parseFloat, 0.1)
  .option('--p-direct <p>', 'direct-answer (guess) probability in pretraining docs', parseFloat, 0.4)
  .option('--snapshot-every <n>', 'evaluate on a validation split every n steps and keep the snapshot closest to the target (0 = keep the last step)', (v) => parseInt(v, 10), 250)
  .option('--snapshot-from <n>', 'first step considered for a snapshot', (v) => parseInt(v, 10), 1000)
  .option('--target-greedy <x>', 'target validation accuracy at T = 0 (embedded-lab.md: 0.8-0.9, so EM and GRPO have room)', parseFloat, 0.85)
  .option('--target-t1 <x>', 'target validation accuracy at T = 1 (0.45-0.55)', parseFloat, 0.5)
  .option('--stop-within <d>', 'stop training at the first snapshot whose distance to the target (|greedy - target| + |T=1 - target|) is at most d (0 = run every step)', parseFloat, 0.1)
  .option('--eval-only <dir>', 're-evaluate an existing model directory and print its card numbers')
  .option('--write-card', 'with --eval-only: also rewrite the directory\'s card.json and MODEL.md (recipe and training time kept from card.json)')
  .parse();

const o = program.opts<{
  out: string; seed: number; steps: number; batch: number; lr: number; warmup: number; beta2: number; workers?: number; width: number; layers: number;
  heads: number; noise: number; pDirect: number; evalOnly?: string; snapshotEvery: number; snapshotFrom: number;
  targetGreedy: number; targetT1: number; writeCard?: boolean; stopWithin: number;
}>();

async function main(): Promise<void> {
  const backend = await initBackend();
  if (o.evalOnly) {
    const { model, tokenizer } = await loadPretrained(resolve(o.evalOnly));
    const task = createTask({ type: 'modchain', noise: o.noise, pDirect: o.pDirect }) as ModchainTask;
    const evaluation = await evaluateBaseModel({ model, tokenizer, name: o.evalOnly }, task, (m) => log(m));
    console.log(JSON.stringify(evaluation, null, 2));
    if (o.writeCard) {
      const dir = resolve(o.evalOnly);
      const old = ModelCardSchema.parse(JSON.parse(await readFile(resolve(dir, 'card.json'), 'utf8')));
      const card = buildModelCard({ recipe: old.recipe, trainingSeconds: old.trainingSeconds, backend: old.backend, evaluation, parameters: model.numParameters() });
      await writeFileAtomic(resolve(dir, 'card.json'), JSON.stringify(card.json, null, 2) + '\n');
      await writeFileAtomic(resolve(dir, 'MODEL.md'), card.markdown);
      log(`rewrote ${dir}/card.json and MODEL.md`);
    }
    return;
  }
  const workers = o.workers ?? (backend.name === 'wasm' || backend.name === 'cpu' ? 2 : 1);
  const modelSpec = { family: 'gpt2' as const, vocabSize: 258, hiddenSize: o.width, numLayers: o.layers, numHeads: o.heads, maxPositions: 64 };
  const recipe: BaseModelRecipe = {
    task: { type: 'modchain', noise: o.noise, pDirect: o.pDirect },
    model: modelSpec,
    training: { steps: o.steps, batchSize: o.batch, lr: o.lr, betas: [0.9, o.beta2], warmupSteps: o.warmup, schedule: 'warmup-cosine', minLrRatio: 0, weightDecay: 0.01, gradClip: 1, lossOn: 'response tokens', workers },
    seed: o.seed,
  };
  const task = createTask({ type: 'modchain', noise: o.noise, pDirect: o.pDirect }) as ModchainTask;
  const tokenizer = new ByteTokenizer();
  const config = defineModelConfig({ ...modelSpec, eosTokenId: tokenizer.eosTokenId, padTokenId: tokenizer.padTokenId });
  const model = CausalLM.init(config, o.seed);
  log(`backend ${backend.name}; ${model.numParameters().toLocaleString('en-US')} parameters; ${o.steps} steps x ${o.batch} docs; ${workers} data-parallel thread(s)`);

  const docs = task.pretrainingDocuments(o.steps * o.batch, o.seed);
  const split = docs.map((d) => {
    const i = d.indexOf('=') + 1;
    return { prompt: tokenizer.encode(d.slice(0, i)), response: tokenizer.encode(d.slice(i)) };
  });
  const data = (step: number, batchSize: number): TrainBatch => {
    const rows = split.slice(step * batchSize, (step + 1) * batchSize);
    return { prompts: rows.map((r) => r.prompt), responses: rows.map((r) => r.response) };
  };
  // Checkpoint selection (embedded-lab.md: "pick and record the checkpoint"): validation prompts come
  // from a modchain task with another split seed, minus the test and probe prompts the card reports.
  const heldOut = new Set([...task.split('test'), ...task.split('probe')].map((e) => e.prompt));
  const validation = (createTask({ type: 'modchain', noise: o.noise, pDirect: o.pDirect, seed: 1000 }) as ModchainTask)
    .split('test')
    .filter((e) => !heldOut.has(e.prompt));
  const validationTask: Task = { ...task, name: task.name, split: (name) => (name === 'test' ? validation : task.split(name)), verify: (c, e) => task.verify(c, e), extractAnswer: (c) => task.extractAnswer(c), stopSequences: task.stopSequences, maxCompletionLength: task.maxCompletionLength };
  const stop = new AbortController(); // aborted by `snapshot` once a snapshot is close enough to the target
  const snapshots: { step: number; greedy: number; t1: number; distance: number; weights: Map<string, tf.Tensor> }[] = [];
  const snapshot = async (step: number) => {
    if (o.snapshotEvery <= 0 || step + 1 < o.snapshotFrom) return;
    const r = await evaluate({ model, tokenizer, name: 'snapshot' }, validationTask, { temperatures: [0, 1], samples: 2, split: 'test' }, { seed: 7 });
    const greedy = r.byTemperature[0]!.accuracy;
    const t1 = r.byTemperature[1]!.accuracy;
    const distance = Math.abs(greedy - o.targetGreedy) + Math.abs(t1 - o.targetT1);
    const best = snapshots.reduce((m, x) => Math.min(m, x.distance), Infinity);
    log(`step ${step + 1}: validation greedy ${greedy.toFixed(3)}, T=1 ${t1.toFixed(3)} (distance to target ${distance.toFixed(3)})`);
    if (distance < best) {
      snapshots.forEach((x) => x.weights.forEach((t) => t.dispose()));
      snapshots.length = 0;
      snapshots.push({ step: step + 1, greedy, t1, distance, weights: new Map([...model.weights].map(([k, v]) => [k, tf.clone(v)])) });
    }
    if (o.stopWithin > 0 && distance <= o.stopWithin) {
      log(`stopping: within ${o.stopWithin} of the target`);
      stop.abort();
    }
  };
  const t0 = performance.now();
  const tty = process.stdout.isTTY;
  const result = await trainCausalLM(model, {
    data,
    batchSize: o.batch,
    steps: o.steps,
    padId: tokenizer.padTokenId,
    workers,
    optimizer: {
      lr: o.lr,
      betas: [0.9, o.beta2],
      weightDecay: 0.01,
      gradClip: 1,
      schedule: { type: 'warmup-cosine', warmupSteps: o.warmup, totalSteps: o.steps, minLrRatio: 0 },
    },
    evalEvery: o.snapshotEvery > 0 ? o.snapshotEvery : undefined,
    signal: stop.signal,
    onEval: snapshot,
    onStep: (s) => {
      const done = s.step + 1;
      const eta = ((performance.now() - t0) / 1000 / done) * (o.steps - done);
      const line = `step ${done}/${o.steps}  loss ${s.loss.toFixed(4)}  lr ${s.lr.toExponential(2)}  ${Math.round(s.tokensPerSec)} tok/s  ETA ${eta.toFixed(0)}s`;
      if (tty) process.stdout.write(`\r${line}   `);
      else if (done % 50 === 0 || done === o.steps) log(line);
    },
  });
  if (tty) process.stdout.write('\n');
  const trainingSeconds = (performance.now() - t0) / 1000;
  const chosen = snapshots[0];
  if (chosen) {
    for (const [k, v] of model.weights) v.assign(chosen.weights.get(k)!);
    chosen.weights.forEach((t) => t.dispose());
    log(`kept the snapshot of step ${chosen.step} (validation greedy ${chosen.greedy.toFixed(3)}, T=1 ${chosen.t1.toFixed(3)})`);
  }
  recipe.training['snapshot'] = chosen
    ? { every: o.snapshotEvery, from: o.snapshotFrom, target: { greedy: o.targetGreedy, t1: o.targetT1 }, stopWithin: o.stopWithin, stepsRun: result.stepsDone, step: chosen.step, validation: { greedy: chosen.greedy, t1: chosen.t1, prompts: validation.length } }
    : { step: o.steps };
  const policy: Policy = { model, tokenizer, name: 'modchain-byte' };
  const evaluation = await evaluateBaseModel(policy, task, (m) => log(m));
  const out = resolve(o.out);
  await mkdir(out, { recursive: true });
  const card = buildModelCard({ recipe, trainingSeconds, backend: backend.name, evaluation, parameters: model.numParameters() });
  await savePretrained(out, model, tokenizer, { extraFiles: { 'MODEL.md': card.markdown } });
  await writeFileAtomic(resolve(out, 'card.json'), JSON.stringify(card.json, null, 2) + '\n');
  log(`wrote ${out} (training ${trainingSeconds.toFixed(0)} s)`);
  for (const r of evaluation.byTemperature) log(`  T=${r.temperature}: accuracy ${r.accuracy.toFixed(3)}  direct ${r.directRate.toFixed(3)}`);
}

function log(message: string): void {
  console.log(`[build-base-model] ${message}`);
}

main().catch((e: unknown) => {
  console.error(`build-base-model: ${(e as Error).stack ?? String(e)}`);
  process.exit(1);
});
