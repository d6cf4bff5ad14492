import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, loadPretrained } from '@emrl/lm';
import { createTask, type Policy } from '@emrl/rl-grpo';
import { evaluateBaseModel, ModelCardSchema } from './card';

const DIR = join(__dirname, '../../models/modchain-byte');

// The committed embedded model still reproduces the evaluation its card records.
describe('models/modchain-byte card', () => {
  let policy: Policy;
  beforeAll(async () => {
    await initBackend();
    const { model, tokenizer } = await loadPretrained(DIR);
    policy = { model, tokenizer, name: 'modchain-byte' };
  });

  it('has a card that parses and a MODEL.md that shows its numbers', () => {
    const card = ModelCardSchema.parse(JSON.parse(readFileSync(join(DIR, 'card.json'), 'utf8')));
    const md = readFileSync(join(DIR, 'MODEL.md'), 'utf8');
    for (const r of card.evaluation.byTemperature) expect(md).toContain(`| ${r.temperature} | ${r.accuracy.toFixed(3)}`);
    expect(card.parameters).toBe(policy.model.numParameters());
  });

  it('reproduces the recorded greedy and T=1 accuracy within the stated sampling noise', async () => {
    const card = ModelCardSchema.parse(JSON.parse(readFileSync(join(DIR, 'card.json'), 'utf8')));
    const task = createTask({ ...(card.recipe.task as object), type: 'modchain' } as never);
    const now = await evaluateBaseModel(policy, task, undefined, [0, 1]);
    for (const r of now.byTemperature) {
      const recorded = card.evaluation.byTemperature.find((x) => x.temperature === r.temperature)!;
      const tolerance = Math.max(4 * recorded.standardError, 0.02);
      expect(Math.abs(r.accuracy - recorded.accuracy), `T=${r.temperature}: ${r.accuracy} vs card ${recorded.accuracy}`).toBeLessThanOrEqual(tolerance);
      expect(Math.abs(r.directRate - recorded.directRate)).toBeLessThanOrEqual(Math.max(4 * Math.sqrt((recorded.directRate * (1 - recorded.directRate)) / recorded.samples), 0.02));
    }
  });
});
