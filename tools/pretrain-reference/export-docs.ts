/**
 * Writes the exact pretraining documents and test split that build-base-model.ts trains and
 * evaluates on, for the independent PyTorch trainer beside it (torch_pretrain.py):
 *
 *   npx tsx tools/pretrain-reference/export-docs.ts --docs 192000 --out /tmp/modchain-docs.json
 */
import { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { createTask, type ModchainTask } from '@emrl/rl-grpo';

const o = new Command()
  .option('--docs <n>', 'documents to write (steps x batch of the run you compare)', (v) => parseInt(v, 10), 192_000)
  .option('--seed <n>', 'data seed (build-base-model --seed)', (v) => parseInt(v, 10), 1)
  .option('--noise <p>', 'wrong-step probability', parseFloat, 0.1)
  .option('--p-direct <p>', 'direct-answer probability', parseFloat, 0.4)
  .option('--out <file>', 'output JSON', 'tmp/modchain-docs.json')
  .parse()
  .opts<{ docs: number; seed: number; noise: number; pDirect: number; out: string }>();

const task = createTask({ type: 'modchain', noise: o.noise, pDirect: o.pDirect }) as ModchainTask;
const docs = task.pretrainingDocuments(o.docs, o.seed);
const test = task.split('test').map((e) => ({ prompt: e.prompt, answer: e.answer, reference: task.referenceCompletion(e) }));
writeFileSync(o.out, JSON.stringify({ docs, test }));
console.log(`wrote ${docs.length} documents and ${test.length} test prompts to ${o.out}`);
