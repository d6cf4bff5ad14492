import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadPipelineConfig, parseConfigText } from './load-config';
import { listPresets, presetPath, SWEEP_PRESETS } from './presets';
import { expandSweep, loadSweepConfig } from '../sweep/sweep-config';
import { parsePipelineConfig } from './load-config';
import { wireRuntime } from '../wiring';

// Against the real stage schemas of rl-grpo and em-plugin, as the CLI wires them.
const registry = wireRuntime().registry;

describe('presets', () => {
  it('ships the seven presets', () => {
    expect(listPresets()).toEqual(['curriculum-ablation', 'em-regularized-grpo', 'em-three-roles', 'em-warmstart', 'grpo-only', 'grpo-then-compress', 'grpo-then-em']);
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
