import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { GrpoConfigSchema, grpoConfigSchema } from './grpo-config';
import { createRegistry } from '../builtins';

const registry = createRegistry();
const schema = grpoConfigSchema(registry);

function issues(input: unknown): { path: string; message: string }[] {
  const r = schema.safeParse(input);
  if (r.success) return [];
  return r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
}

describe('GrpoConfigSchema', () => {
  it('fills TRL-like defaults', () => {
    const c = GrpoConfigSchema.parse({});
    expect(c).toMatchObject({
      steps: 40,
      promptsPerStep: 8,
      groupSize: 8,
      temperature: 1,
      topP: 1,
      topK: 0,
      split: 'train',
      rewards: [{ name: 'accuracy', weight: 1 }],
      scaleRewards: 'group',
      dynamicSampling: false,
      maskTruncatedCompletions: false,
      lossType: 'bnpo',
      importanceSampling: 'token',
      epsLow: 0.2,
      beta: 0.04,
      numIterations: 1,
      lr: 1e-4,
      weightDecay: 0,
      gradClip: 1,
      gradientAccumulationSteps: 1,
      schedule: { type: 'constant' },
      plugins: [],
      logEvery: 1,
      evalEvery: 0,
      checkpointEvery: 10,
      checkpointMinutes: 10,
    });
    expect(c.epsHigh).toBeUndefined();
    expect(c.maxCompletionLength).toBeUndefined();
    expect(GrpoConfigSchema.parse({ schedule: { type: 'warmup-cosine' } }).schedule).toEqual({ type: 'warmup-cosine', warmupSteps: 0, minLrRatio: 0 });
  });

  it('rejects promptsPerStep not divisible by gradientAccumulationSteps, naming the field', () => {
    const found = issues({ promptsPerStep: 6, gradientAccumulationSteps: 4 });
    expect(found).toHaveLength(1);
    expect(found[0]!.path).toBe('gradientAccumulationSteps');
    expect(found[0]!.message).toMatch(/promptsPerStep \(6\) must be divisible by gradientAccumulationSteps \(4\)/);
    expect(issues({ promptsPerStep: 8, gradientAccumulationSteps: 4 })).toEqual([]);
  });

  it('rejects maxRefills without dynamicSampling (it would silently do nothing)', () => {
    expect(issues({ maxRefills: 5 }).map((f) => f.path)).toEqual(['maxRefills']);
    expect(issues({ maxRefills: 5, dynamicSampling: true })).toEqual([]);
  });

  it('rejects epsHigh below epsLow', () => {
    const found = issues({ epsLow: 0.2, epsHigh: 0.1 });
    expect(found.map((f) => f.path)).toEqual(['epsHigh']);
    expect(found[0]!.message).toMatch(/epsHigh \(0.1\) is below epsLow \(0.2\)/);
    expect(issues({ epsLow: 0.2, epsHigh: 0.28 })).toEqual([]);
  });

  it('rejects unknown plugins and entries with more than one key, listing the registered ones', () => {
    expect(registry.lossTermNames()).toContain('entropy-bonus');
    const unknown = issues({ plugins: [{ 'no-such-plugin': {} }] });
    expect(unknown.map((f) => f.path)).toEqual(['plugins.0.no-such-plugin']);
    expect(unknown[0]!.message).toMatch(/unknown plugin "no-such-plugin"; registered: .*entropy-bonus/);
    const two = issues({ plugins: [{ 'entropy-bonus': {}, other: {} }] });
    expect(two.map((f) => f.path)).toEqual(['plugins.0']);
  });

  it('validates plugin options with the plugin schema, with the full path', () => {
    const bad = issues({ plugins: [{ 'entropy-bonus': { coef: -1 } }] });
    expect(bad.map((f) => f.path)).toEqual(['plugins.0.entropy-bonus.coef']);
    const extra = issues({ plugins: [{ 'entropy-bonus': { coef: 0.1 } }, { 'entropy-bonus': { typo: 1 } }] });
    expect(extra.map((f) => f.path)).toEqual(['plugins.1.entropy-bonus']);
    expect(extra[0]!.message).toMatch(/typo/);
  });

  it('fills plugin defaults and builds the plugins from the parsed entries', () => {
    const c = schema.parse({ plugins: [{ 'entropy-bonus': { coef: 0.01 } }] });
    expect(c.plugins[0]).toEqual({ 'entropy-bonus': { coef: 0.01, coefDelta: 0.0005, maxCoef: 0.05 } });
    // Parsed once: the output is valid input again (config.json is re-parsed on resume) and unchanged by it.
    expect(schema.parse(JSON.parse(JSON.stringify(c)))).toEqual(c);
    const [p] = registry.createLossTerms(c.plugins);
    expect(p!.name).toBe('entropy-bonus');
    expect(p!.state!()).toEqual({ coef: 0.01 });
    expect(() => registry.createLossTerms([{ nope: {} }])).toThrow(/plugins\[0\]: unknown plugin "nope".*registerEmPlugins\(registry\)/);
  });

  it('does not mutate the caller input and serializes to JSON schema', () => {
    const input = { plugins: [{ 'entropy-bonus': { coef: 0.01 } }] };
    schema.parse(input);
    expect(input).toEqual({ plugins: [{ 'entropy-bonus': { coef: 0.01 } }] });
    const js = z.toJSONSchema(GrpoConfigSchema, { io: 'input', unrepresentable: 'any' }) as { properties: Record<string, { description?: string }> };
    expect(js.properties['groupSize']!.description).toMatch(/num_generations/);
  });

  it('rejects an unknown reward function by path, naming the registered ones', () => {
    const r = schema.safeParse({ rewards: [{ name: 'acuracy' }] });
    expect(r.success).toBe(false);
    const issue = r.error!.issues[0]!;
    expect(issue.path).toEqual(['rewards', 0, 'name']);
    expect(issue.message).toMatch(/unknown reward function "acuracy"; registered: .*accuracy/);
  });
});
