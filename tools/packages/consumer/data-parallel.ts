/**
 * Data-parallel training from the installed @emrl/lm: `workers: 2` starts a worker thread from the
 * package's own dist/ (train/data-parallel/worker-entry.js). The same 2 steps from the same
 * weights with workers 1 and 2 must give the same losses (up to float summation order).
 * Run: node data-parallel.js <model dir>
 */
import { initBackend, loadPretrained, trainCausalLM, type TrainBatch } from '@emrl/lm';

const modelDir = process.argv[2];
if (!modelDir) throw new Error('usage: node data-parallel.js <model directory>');

await initBackend();

// Prompt/response rows of different lengths, so the two shards differ in padding and tokens.
function batch(step: number, rows: number): TrainBatch {
  const prompts: number[][] = [];
  const responses: number[][] = [];
  for (let b = 0; b < rows; b++) {
    const k = (step * rows + b) % 5;
    prompts.push(Array.from({ length: 2 + k }, (_, i) => 40 + ((k + i) % 10)));
    responses.push(Array.from({ length: 1 + k }, (_, i) => 48 + ((2 * k + i) % 10)));
  }
  return { prompts, responses };
}

async function losses(workers: number): Promise<number[]> {
  const { model } = await loadPretrained(modelDir!);
  const res = await trainCausalLM(model, { data: batch, batchSize: 4, steps: 2, padId: 0, workers, optimizer: { lr: 1e-3 } });
  model.dispose();
  return res.losses;
}

// Never called: the shipped .d.ts carry real option types (were they `any`, this line would not error).
export function typesAreChecked(model: Parameters<typeof trainCausalLM>[0]) {
  // @ts-expect-error workers is a number
  return trainCausalLM(model, { data: batch, batchSize: 4, steps: 2, padId: 0, workers: 'two', optimizer: { lr: 1e-3 } });
}

// One JSON line for the test to read.
console.log(JSON.stringify({ single: await losses(1), twoWorkers: await losses(2) }));
