import { beforeAll, describe, expect, it } from 'vitest';
import { ByteTokenizer } from '@emrl/lm';
import { makeTinyModel, setupTestBackend } from '@emrl/lm/testing';
import { createRegistry, createTask, grpoConfigSchema, grpoTrainer, Registry, type GrpoConfigInput, type LossTermPlugin, type Task } from '@emrl/rl-grpo';
import { EmRegularizerPlugin } from './regularizer';
import { registerEmPlugins } from './register';

const task = createTask({ type: 'modchain', trainSize: 50, testSize: 20, probeSize: 8, maxOps: 2 });
const tokenizer = new ByteTokenizer();
const registry = registerEmPlugins(createRegistry());

beforeAll(async () => {
  await setupTestBackend();
});

function grpo(plugins: GrpoConfigInput['plugins'], over: GrpoConfigInput = {}) {
  return grpoConfigSchema(registry).parse({ steps: 2, promptsPerStep: 2, groupSize: 2, maxCompletionLength: 8, beta: 0, plugins, ...over });
}

function trainer(config: ReturnType<typeof grpo>, seed = 0, plugins: LossTermPlugin[] = registry.createLossTerms(config.plugins), on: Task = task) {
  const model = makeTinyModel({ family: 'gpt2', vocabSize: tokenizer.vocabSize, seed });
  return { model, trainer: grpoTrainer({ policy: { model, tokenizer, name: 'tiny' }, task: on, config, seed: 0, registry, plugins }) };
}

/** Modchain prompts, but any of 80 printable bytes stops a completion: lengths vary widely. */
const varyingLengths: Task = Object.create(task, { stopSequences: { value: Array.from({ length: 80 }, (_, i) => String.fromCharCode(33 + i)) } });

describe('em-regularizer plugin registration', () => {
  it('is registered by registerEmPlugins next to entropy-bonus; its options are parsed once by the GRPO schema', () => {
    expect(registry.lossTermNames()).toEqual(expect.arrayContaining(['em-regularizer', 'entropy-bonus']));
    expect(registry.rewardNames()).toEqual(expect.arrayContaining(['accuracy', 'format', 'majority-agreement']));
    const ok = grpo([{ 'em-regularizer': { coef: { type: 'linear-warmup', value: 0.05, warmupSteps: 2 } } }]);
    expect(ok.plugins[0]).toEqual({ 'em-regularizer': { pooling: 'token-mean', coef: { type: 'linear-warmup', value: 0.05, warmupSteps: 2 } } });
    expect(() => grpo([{ 'em-regularizer': { coef: { type: 'fixed', value: -1 } } }])).toThrow(/plugins.*em-regularizer.*coef/s);
    expect(() => grpo([{ 'em-regularizer': { coeff: 0.1 } }])).toThrow(/coeff/);
    expect(() => grpo([{ 'em-regularizer': { coef: { type: 'adaptive', lr: 0.1 } } }])).toThrow(/targetEntropy/);
    const [plugin] = registry.createLossTerms(ok.plugins);
    expect(plugin).toBeInstanceOf(EmRegularizerPlugin);
    expect(plugin!.name).toBe('em-regularizer');
  });

  it('a registry without em-plugin says what to register', () => {
    expect(() => grpoConfigSchema(createRegistry()).parse({ plugins: [{ 'em-regularizer': {} }] })).toThrow(/unknown plugin .{0,2}em-regularizer.*registerEmPlugins\(registry\)/s);
    expect(() => new Registry().reward('accuracy')).toThrow(/unknown reward function "accuracy"/);
  });

  it('runs in a GRPO step beside the entropy bonus; metrics are prefixed by the config keys and the loss adds both terms', async () => {
    const { model, trainer: t } = trainer(grpo([{ 'em-regularizer': { coef: { type: 'fixed', value: 0.1 } } }, { 'entropy-bonus': { coef: 0.02 } }]));
    const { metrics: m } = await t.step(0);
    expect(m['em-regularizer/coef']).toBe(0.1);
    expect(m['entropy-bonus/coef']).toBe(0.02);
    // Both plugins and the policy term measure the token-mean entropy at the trainer's temperature (1).
    expect(m['em-regularizer/entropy']).toBeGreaterThan(0);
    expect(m['em-regularizer/entropy']).toBeCloseTo(m['entropy']!, 5);
    expect(m['entropy-bonus/entropy']).toBeCloseTo(m['entropy']!, 5);
    expect(m['loss']).toBeCloseTo(m['policy_loss']! + 0.1 * m['em-regularizer/entropy']! - 0.02 * m['entropy-bonus/entropy']!, 5);
    t.dispose();
    model.dispose();
  });

  it('adaptive coef follows the entropy the trainer reports after each step', async () => {
    const coef = { type: 'adaptive' as const, initial: 0, targetEntropy: 0.5, lr: 0.1, max: 1 };
    const { model, trainer: t } = trainer(grpo([{ 'em-regularizer': { coef } }]), 1);
    const s0 = (await t.step(0)).metrics;
    const s1 = (await t.step(1)).metrics;
    expect(s0['em-regularizer/coef']).toBe(0);
    expect(s1['em-regularizer/coef']).toBeCloseTo(Math.min(1, Math.max(0, 0.1 * (s0['em-regularizer/entropy']! - 0.5))), 6);
    expect(s1['em-regularizer/coef']).toBeGreaterThan(0);
    expect(t.termStates()['em-regularizer']).toMatchObject({ updates: 2 });
    t.dispose();
    model.dispose();
  });

  it('with gradient accumulation, the EM term is weighted by token share: the step equals one big batch', async () => {
    // Groups of very different lengths make token share and row share differ.
    const plugins = [{ 'em-regularizer': { coef: { type: 'fixed' as const, value: 0.5 } } }];
    const weightsAfter = async (micro: number) => {
      const config = grpo(plugins, { steps: 1, promptsPerStep: 4, groupSize: 2, maxCompletionLength: 12, gradientAccumulationSteps: micro, lr: 1e-2 });
      const { model, trainer: t } = trainer(config, 3, undefined, varyingLengths);
      const { metrics } = await t.step(0);
      t.dispose();
      model.dispose();
      return { metrics };
    };
    const one = await weightsAfter(1);
    const two = await weightsAfter(2);
    const four = await weightsAfter(4);
    for (const other of [two, four]) {
      expect(other.metrics['em-regularizer/entropy']).toBeCloseTo(one.metrics['em-regularizer/entropy']!, 5);
      expect(other.metrics['loss']).toBeCloseTo(one.metrics['loss']!, 5);
      // The accumulated gradient has the one-batch norm (AdamW's first update is ~lr * sign(g), which
      // would amplify float noise in near-zero gradients, so the weights are not compared).
      expect(Math.abs(other.metrics['grad_norm']! / one.metrics['grad_norm']! - 1)).toBeLessThan(1e-5);
    }
    // Completion lengths differ, so token share and row share of a micro-batch differ.
    expect(one.metrics['completions/min_length']).toBeLessThan(one.metrics['completions/max_length']!);
  });
});
