import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { emStageFactory } from '@emrl/em-plugin';
import { createRegistry, evalStageFactory, grpoStageFactory as grpoStageFactoryOn } from '@emrl/rl-grpo';
import { ConfigError } from './config-error';
import { describeStage } from './describe-stage';
import { parseConfigText, parsePipelineConfig } from './load-config';
import { applyOverride } from './overrides';
import { pipelineJsonSchema } from './pipeline-json-schema';
import { StageRegistry } from './stage-registry';

const grpoStageFactory = grpoStageFactoryOn(createRegistry());
const registry = new StageRegistry().register(grpoStageFactory).register(emStageFactory).register(evalStageFactory);
const head = 'task: { type: modchain }\nstages:\n';
const grpoOf = (yaml: string): Record<string, unknown> =>
  parsePipelineConfig(parseConfigText(`${head}  - grpo: ${yaml}\n`, 'p.yaml'), 'p.yaml', registry).stages[0]!.options as Record<string, unknown>;
function problemsOf(yaml: string): string[] {
  try {
    grpoOf(yaml);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems as string[];
  }
  throw new Error('expected a ConfigError');
}

describe('TRL GRPOConfig names as aliases', () => {
  it("a TRL user's GRPO block parses to the same options as its emrl spelling", () => {
    const trl = grpoOf(
      '{ num_generations: 4, learning_rate: 1.0e-5, max_steps: 30, beta: 0.0, epsilon: 0.2, epsilon_high: 0.28, loss_type: dapo, scale_rewards: false, ' +
        'num_iterations: 2, max_completion_length: 24, mask_truncated_completions: true, importance_sampling_level: sequence, temperature: 0.9, top_p: 0.95, ' +
        'top_k: 20, gradient_accumulation_steps: 2, max_grad_norm: 0.5, weight_decay: 0.01, lr_scheduler_type: cosine, warmup_ratio: 0.1 }',
    );
    const emrl = grpoOf(
      '{ groupSize: 4, lr: 1.0e-5, steps: 30, beta: 0.0, epsLow: 0.2, epsHigh: 0.28, lossType: bnpo, scaleRewards: none, numIterations: 2, maxCompletionLength: 24, ' +
        'maskTruncatedCompletions: true, importanceSampling: sequence, temperature: 0.9, topP: 0.95, topK: 20, gradientAccumulationSteps: 2, gradClip: 0.5, ' +
        'weightDecay: 0.01, schedule: { type: warmup-cosine, warmupSteps: 3 } }',
    );
    expect(trl).toEqual(emrl);
    // Spot-check the translation itself, not only the equality.
    expect(trl['groupSize']).toBe(4);
    expect(trl['numIterations']).toBe(2);
    expect(trl['lossType']).toBe('bnpo');
  });

  it('maps loss_type and scale_rewards values (on both names) as TRL documents them', () => {
    expect(grpoOf('{ loss_type: dapo }')['lossType']).toBe('bnpo');
    expect(grpoOf('{ lossType: dapo }')['lossType']).toBe('bnpo');
    expect(grpoOf('{ loss_type: grpo }')['lossType']).toBe('grpo');
    expect(grpoOf('{ loss_type: dr_grpo, max_completion_length: 16 }')['lossType']).toBe('dr_grpo');
    expect(grpoOf('{ scale_rewards: true }')['scaleRewards']).toBe('group');
    expect(grpoOf('{ scale_rewards: false }')['scaleRewards']).toBe('none');
    expect(grpoOf('{ scaleRewards: false }')['scaleRewards']).toBe('none');
    expect(grpoOf('{ scale_rewards: batch }')['scaleRewards']).toBe('batch');
  });

  it('warmup_ratio becomes ceil(ratio * steps) warmup steps, from the default step count when none is given', () => {
    // transformers: get_warmup_steps = ceil(max_steps * warmup_ratio); 0.25 * 30 = 7.5 -> 8.
    expect(grpoOf('{ max_steps: 30, lr_scheduler_type: cosine, warmup_ratio: 0.25 }')['schedule']).toEqual({ type: 'warmup-cosine', warmupSteps: 8, minLrRatio: 0 });
    const dflt = grpoOf('{}')['steps'] as number;
    expect(grpoOf('{ lr_scheduler_type: cosine, warmup_ratio: 0.1 }')['schedule']).toMatchObject({ warmupSteps: Math.ceil(0.1 * dflt) });
    expect(grpoOf('{ lr_scheduler_type: constant }')['schedule']).toEqual({ type: 'constant' });
    expect(grpoOf('{ lr_scheduler_type: cosine, warmup_steps: 5 }')['schedule']).toMatchObject({ warmupSteps: 5 });
  });

  it('an alias and its emrl name together is an error naming both', () => {
    expect(problemsOf('{ learning_rate: 1e-5, lr: 1e-4 }')).toEqual(['stages[0].grpo: both "learning_rate" (TRL\'s name) and "lr" (emrl\'s) are given; keep one']);
    expect(problemsOf('{ lr_scheduler_type: cosine, schedule: { type: constant } }')[0]).toContain('both lr_scheduler_type (TRL\'s names) and "schedule"');
    expect(problemsOf('{ warmup_ratio: 0.1, warmup_steps: 2, lr_scheduler_type: cosine }')[0]).toContain('both warmup_ratio and warmup_steps');
  });

  it('"did you mean" consults the alias table: num_generations never suggests numIterations, dapo never grpo', () => {
    const [gen] = problemsOf('{ num_generation: 4 }');
    expect(gen).toContain('stages[0].grpo.num_generation: unknown key (did you mean "num_generations", TRL\'s name for "groupSize"?)');
    expect(gen).not.toContain('"numIterations"?');
    const [loss] = problemsOf('{ loss_type: dapoo }');
    expect(loss).toMatch(/^stages\[0\]\.grpo\.loss_type: expected one of "dapo" \(= "bnpo"\) \| "bnpo" \| "grpo" \| "dr_grpo", received "dapoo" \(did you mean "dapo"\?\)$/);
    expect(problemsOf('{ lossType: dap }')[0]).toContain('(did you mean "dapo"?)');
    expect(problemsOf('{ learning_rat: 1 }')[0]).toContain('did you mean "learning_rate", TRL\'s name for "lr"?');
  });

  it('names what the user wrote when an aliased value is out of range', () => {
    expect(problemsOf('{ learning_rate: -1 }')[0]).toMatch(/^stages\[0\]\.grpo\.learning_rate \(emrl lr\): /);
  });

  it('rejects TRL options emrl does not have, with what to write instead', () => {
    expect(problemsOf('{ per_device_train_batch_size: 8 }')[0]).toContain('use promptsPerStep');
    expect(problemsOf('{ loss_type: cispo }')[0]).toContain('"cispo" is not supported');
    expect(problemsOf('{ max_steps: -1 }')[0]).toContain('emrl needs a positive step count');
    expect(problemsOf('{ lr_scheduler_type: linear }')[0]).toContain('"constant" and "cosine"');
    expect(problemsOf('{ warmup_ratio: 0.1 }')[0]).toContain('warmup needs lr_scheduler_type: cosine');
  });

  it('--set accepts TRL names for stage options', () => {
    const data = { task: { type: 'modchain' }, stages: [{ grpo: { lr: 1e-4 } }] };
    const r = applyOverride(data, 'grpo.learning_rate', 3e-5);
    expect(r.data['stages']).toEqual([{ grpo: { lr: 3e-5 } }]);
  });
});

describe('emrl describe / JSON Schema', () => {
  it('describe grpo lists every option with TRL name and flags defaults that differ from TRL', () => {
    const text = describeStage('grpo', grpoStageFactory.schema);
    const fields = Object.keys((grpoStageFactory.schema as unknown as { def: { in: { def: { shape: object } } } }).def.in.def.shape);
    for (const f of fields) expect(text).toMatch(new RegExp(`^${f}  `, 'm'));
    expect(text).toContain('TRL: beta (TRL default 0, DIFFERS: emrl 0.04)');
    expect(text).toContain('TRL: loss_type (TRL default "dapo" = "bnpo", same as emrl)');
    expect(text).toContain('verl: actor_rollout_ref.rollout.n');
  });

  it("describe em says which temperature is the entropy tau and which samples", () => {
    const text = describeStage('em', emStageFactory.schema);
    expect(text).toMatch(/^entropyTemperature .*\n(.*\n)*? {4}NOT a sampling temperature: the entropy temperature tau/m);
    expect(text).toMatch(/^temperature .*\n(.*\n)*? {4}The old name of entropyTemperature/m);
  });

  it('the JSON Schema accepts TRL aliases as properties and marks the stage blocks strict', () => {
    const js = pipelineJsonSchema(registry) as { properties: { stages: { items: { oneOf: { properties: Record<string, { properties: Record<string, unknown>; additionalProperties?: unknown }> }[] } } } };
    const grpo = js.properties.stages.items.oneOf.find((o) => 'grpo' in o.properties)!.properties['grpo']!;
    expect(grpo.properties['num_generations']).toMatchObject({ type: 'integer', minimum: 2 });
    expect(grpo.properties['loss_type']).toMatchObject({ enum: ['dapo', 'bnpo', 'grpo', 'dr_grpo'] });
    expect(grpo.additionalProperties).toBe(false);
  });

  it('the committed emrl.schema.json is up to date (regenerate: npm run emrl -- schema > emrl.schema.json)', async () => {
    const { wireRuntime } = await import('../wiring');
    const committed = JSON.parse(readFileSync(join(__dirname, '../../../../emrl.schema.json'), 'utf8')) as unknown;
    expect(committed).toEqual(pipelineJsonSchema(wireRuntime().registry));
  });
});
