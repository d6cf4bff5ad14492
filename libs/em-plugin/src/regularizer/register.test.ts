import { beforeAll, describe, expect, it } from 'vitest';
import { ByteTokenizer } from '@emrl/lm';
import { makeTinyModel, setupTestBackend } from '@emrl/lm/testing';
import { createLossTermPlugins, createTask, GrpoConfigSchema, GrpoTrainer, listLossTermPlugins, type GrpoConfigInput } from '@emrl/rl-grpo';
import { EmRegularizerPlugin } from './regularizer';
import './register';

const task = createTask({ type: 'modchain', trainSize: 50, testSize: 20, probeSize: 8, maxOps: 2 });
const tokenizer = new ByteTokenizer();

beforeAll(async () => {
  await setupTestBackend();
});

function grpo(plugins: GrpoConfigInput['plugins']) {
  return GrpoConfigSchema.parse({ steps: 2, promptsPerStep: 2, groupSize: 2, maxCompletionLength: 8, beta: 0, plugins });
}

describe('em-regularizer plugin registration', () => {
  it('is registered next to entropy-bonus and its options are validated by GrpoConfigSchema', () => {
    expect(listLossTermPlugins()).toEqual(expect.arrayContaining(['em-regularizer', 'entropy-bonus']));
    const ok = grpo([{ 'em-regularizer': { coef: { type: 'linear-warmup', value: 0.05, warmupSteps: 2 } } }]);
    expect(ok.plugins[0]).toEqual({ 'em-regularizer': { pooling: 'token-mean', coef: { type: 'linear-warmup', value: 0.05, warmupSteps: 2 } } });
    expect(() => grpo([{ 'em-regularizer': { coef: { type: 'fixed', value: -1 } } }])).toThrow(/plugins.*em-regularizer.*coef/s);
    expect(() => grpo([{ 'em-regularizer': { coeff: 0.1 } }])).toThrow(/coeff/);
    expect(() => grpo([{ 'em-regularizer': { coef: { type: 'adaptive', lr: 0.1 } } }])).toThrow(/targetEntropy/);
    const [plugin] = createLossTermPlugins(ok.plugins);
    expect(plugin).toBeInstanceOf(EmRegularizerPlugin);
  });

  it('runs in a GRPO step beside the entropy bonus; both see the same entropy and the loss adds both terms', async () => {
    const config = grpo([{ 'em-regularizer': { coef: { type: 'fixed', value: 0.1 } } }, { 'entropy-bonus': { coef: 0.02 } }]);
    const model = makeTinyModel({ family: 'gpt2', vocabSize: tokenizer.vocabSize });
    const trainer = new GrpoTrainer({ policy: { model, tokenizer, name: 'tiny' }, task, config, seed: 0, plugins: createLossTermPlugins(config.plugins) });
    const { metrics: m } = await trainer.step(0);
    expect(m['em/coef']).toBe(0.1);
    expect(m['entropy_bonus/coef']).toBe(0.02);
    // Both plugins and the trainer measure the token-mean entropy at the trainer's temperature (1).
    expect(m['em/entropy']).toBeGreaterThan(0);
    expect(m['em/entropy']).toBeCloseTo(m['entropy']!, 5);
    expect(m['entropy_bonus/entropy']).toBeCloseTo(m['entropy']!, 5);
    expect(m['loss']).toBeCloseTo(m['policy_loss']! + 0.1 * m['em/entropy']! - 0.02 * m['entropy_bonus/entropy']!, 5);
    trainer.dispose();
    model.dispose();
  });

  it('adaptive coef follows the entropy the trainer reports after each step', async () => {
    const coef = { type: 'adaptive' as const, initial: 0, targetEntropy: 0.5, lr: 0.1, max: 1 };
    const config = grpo([{ 'em-regularizer': { coef } }]);
    const model = makeTinyModel({ family: 'gpt2', vocabSize: tokenizer.vocabSize, seed: 1 });
    const trainer = new GrpoTrainer({ policy: { model, tokenizer, name: 'tiny' }, task, config, seed: 0, plugins: createLossTermPlugins(config.plugins) });
    const s0 = (await trainer.step(0)).metrics;
    const s1 = (await trainer.step(1)).metrics;
    expect(s0['em/coef']).toBe(0);
    expect(s1['em/coef']).toBeCloseTo(Math.min(1, Math.max(0, 0.1 * (s0['em/entropy']! - 0.5))), 6);
    expect(s1['em/coef']).toBeGreaterThan(0);
    expect(trainer.pluginStates()['em']).toMatchObject({ updates: 2 });
    trainer.dispose();
    model.dispose();
  });
});
