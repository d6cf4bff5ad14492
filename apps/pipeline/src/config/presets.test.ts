import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadPipelineConfig, parseConfigText } from './load-config';
import { listPresets, presetPath, SWEEP_PRESETS } from './presets';
import { expandSweep, loadSweepConfig } from '../sweep/sweep-config';
import { parsePipelineConfig } from './load-config';
import { createTask } from '@emrl/rl-grpo';
import { wireRuntime } from '../wiring';

// Against the real stage schemas of rl-grpo and em-plugin, as the CLI wires them.
const registry = wireRuntime().registry;

describe('presets', () => {
  it('ships the eight presets', () => {
    expect(listPresets()).toEqual(['curriculum-ablation', 'em-regularized-grpo', 'em-three-roles', 'em-warmstart', 'grpo-only', 'grpo-then-compress', 'grpo-then-em', 'paper-one-shot-em']);
  });
  for (const name of listPresets().filter((p) => !SWEEP_PRESETS.includes(p))) {
    it(`${name} validates`, () => {
      const cfg = loadPipelineConfig(presetPath(name), registry);
      expect(cfg.name).toBe(name);
      expect(cfg.stages.length).toBeGreaterThan(0);
      expect(parseConfigText(readFileSync(presetPath(name), 'utf8'), 'x.yaml')).toHaveProperty('task');
    });
  }
  it('em-warmstart is select -> em -> grpo -> eval', () => {
    expect(loadPipelineConfig(presetPath('em-warmstart'), registry).stages.map((s) => s.kind)).toEqual(['select', 'em', 'grpo', 'eval']);
  });
  it("paper-one-shot-em carries the paper's reference settings and its one prompt", () => {
    const cfg = loadPipelineConfig(presetPath('paper-one-shot-em'), registry);
    expect(cfg.seed).toBe(15);
    expect(cfg.stages.map((s) => s.kind)).toEqual(['em', 'eval']);
    expect(cfg.stages[0]!.options).toMatchObject({
      steps: 10,
      rollouts: 64,
      sampleTemperature: 0.5,
      entropyTemperature: 0.5,
      topP: 0.95,
      lr: 2e-5,
      weightDecay: 0.01,
      gradClip: 1,
      prompt: { split: 'train', count: 1 },
    });
    const task = createTask(cfg.task as Parameters<typeof createTask>[0]);
    expect(task.split('train')).toHaveLength(1);
    expect(task.split('train')[0]!.prompt).toMatch(/^The pressure \$P\$ exerted by wind on a sail .*\nPlease reason step by step, and put your final answer within \\boxed\{\}\.$/s);
    expect(task.verify('so $V = \\boxed{12.8}$', task.split('train')[0]!).correct).toBe(true);
    // The README's --set task.test=<benchmark> --set task.format=math500 reads both files.
    const math500 = fileURLToPath(new URL('../../../../libs/rl-grpo/fixtures/math500-sample.jsonl', import.meta.url));
    const withBench = createTask({ ...(cfg.task as Record<string, unknown>), type: 'jsonl', test: math500, format: 'math500' });
    expect([withBench.split('train').length, withBench.split('test').length]).toEqual([1, 5]);
  });

  it('curriculum-ablation expands to valid cells', () => {
    const file = presetPath('curriculum-ablation');
    const { config, base } = loadSweepConfig(file);
    const cells = expandSweep(config, base, file);
    // em-then-grpo and grpo-then-em vary em.steps (2 values); grpo-only and em-regularized do not: (2+1+2+1) x 3 seeds.
    expect(cells).toHaveLength(18);
    for (const c of cells) parsePipelineConfig(c.pipeline, c.id, registry);
    expect(new Set(cells.map((c) => c.id)).size).toBe(18);
  });
});
