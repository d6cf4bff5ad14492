/**
 * libs/em-plugin/README.md "One objective, three placements", shrunk (fewer prompts, rollouts and
 * steps), as a project outside the monorepo writes it. packages.test.ts compiles it against the
 * installed packages' .d.ts and runs the JS with plain node: node three-placements.js <model dir>
 */
import { initBackend, loadPretrained } from '@emrl/lm';
import { adapterParameters, createRegistry, createTask, FrozenBatchSampler, grpoConfigSchema, grpoTrainer, modelParameters, PromptSampler, Trainer } from '@emrl/rl-grpo';
import { EmLossTerm, registerEmPlugins, TemperatureAdapter } from '@emrl/em-plugin';

const modelDir = process.argv[2];
if (!modelDir) throw new Error('usage: node three-placements.js <model directory>');

await initBackend();
const { model, tokenizer } = await loadPretrained(modelDir);
const policy = { model, tokenizer, name: 'modchain-byte' };
const task = createTask({ type: 'modchain' });

const em = (name: string, tau: number) => new EmLossTerm({ temperature: tau, coef: { type: 'fixed', value: 1 } }, name);
const prompts = task.split('train').slice(0, 1);

// 1. Warm start: fresh rollouts of one prompt each step; the EM term; the model's weights.
const warmStart = new Trainer({
  id: 'em', model, totalSteps: 2, temperature: 0.5,
  sampler: new PromptSampler({ policy, task, prompts, rollouts: 4, sampling: (step) => ({ temperature: 1, topP: 1, topK: 0, maxNewTokens: 24, seed: step }) }),
  terms: [em('em', 0.5)],
  parameters: modelParameters(model),
  optimizer: { lr: 1e-4, weightDecay: 0.01, gradClip: 1 },
});

// 2. Regularizer: GRPO groups and advantages; the grpo-policy term plus EM; the model's weights.
const registry = registerEmPlugins(createRegistry());
const config = grpoConfigSchema(registry).parse({ steps: 2, promptsPerStep: 2, groupSize: 4, plugins: [{ 'em-regularizer': { coef: 0.01, temperature: 0.5 } }] });
const regularized = grpoTrainer({ policy, task, config, seed: 1, registry, plugins: registry.createLossTerms(config.plugins) });

// 3. Compression: the frozen model's samples and logits, computed once; EM on the adapter's output; the adapter only.
const adapter = new TemperatureAdapter({ name: 'em-compress' });
const compression = new Trainer({
  id: 'compress', model, totalSteps: 2, temperature: 1,
  sampler: new FrozenBatchSampler({ policy, task, prompts: task.split('train').slice(0, 4), rollouts: 2, sampling: { temperature: 1, topP: 1, topK: 0, maxNewTokens: 24, seed: 1 } }),
  terms: [em('em', 1)],
  parameters: adapterParameters(adapter),
  optimizer: { lr: 0.05, weightDecay: 0, gradClip: 0 },
});

const results: Record<string, { loss: number | undefined; entropy: number | undefined }[]> = {};
for (const [name, t, entropyMetric] of [['warmStart', warmStart, 'em/entropy'], ['regularized', regularized, 'em-regularizer/entropy'], ['compression', compression, 'em/entropy']] as const) {
  results[name] = [];
  for (let step = 0; step < 2; step++) {
    const { metrics } = await t.step(step);
    results[name].push({ loss: metrics['loss'], entropy: metrics[entropyMetric] });
  }
}
// One JSON line for the test to read.
console.log(JSON.stringify({ results, temperature: adapter.temperature() }));
model.dispose();
