/**
 * libs/rl-grpo/README.md "Example: GRPO with an entropy bonus, watching the events", shrunk to 2
 * steps, as a project outside the monorepo writes it. packages.test.ts compiles it against the
 * installed packages' .d.ts and runs the JS with plain node: node grpo-entropy-bonus.js <model dir>
 */
import { initBackend, loadPretrained } from '@emrl/lm';
import { createRegistry, createTask, evaluate, grpoConfigSchema, GrpoStage } from '@emrl/rl-grpo';
import { lastValueFrom, tap } from 'rxjs';

const modelDir = process.argv[2];
if (!modelDir) throw new Error('usage: node grpo-entropy-bonus.js <model directory>');

const backend = await initBackend();
const { model, tokenizer } = await loadPretrained(modelDir);
const policy = { model, tokenizer, name: 'modchain-byte' };
const task = createTask({ type: 'modchain' });
const evalConfig = { temperatures: [0, 1], samples: 2, split: 'test' as const, limit: 8 };
const before = await evaluate(policy, task, evalConfig, { seed: 1 });

const registry = createRegistry();
const config = grpoConfigSchema(registry).parse({
  steps: 2, promptsPerStep: 2, groupSize: 4, lr: 1e-4, beta: 0.04,
  plugins: [{ 'entropy-bonus': { coef: 0.001 } }],
});
const steps: { step: number; reward: number | undefined; entropy: number | undefined; coef: number | undefined }[] = [];
const finished = await lastValueFrom(
  new GrpoStage('grpo', config, registry).run({ policy, task, seed: 1 }).pipe(
    tap((e) => e.type === 'metrics' && steps.push({ step: e.step, reward: e.metrics['reward'], entropy: e.metrics['entropy'], coef: e.metrics['entropy-bonus/coef'] })),
  ),
);
const after = await evaluate(policy, task, evalConfig, { seed: 1 });
// One JSON line for the test to read.
console.log(JSON.stringify({ backend: backend.name, finished: finished.type, steps, before: before.byTemperature.map((r) => r.temperature), afterPrompts: after.numPrompts }));
model.dispose();
