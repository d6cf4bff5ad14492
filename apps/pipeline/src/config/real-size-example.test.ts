import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { wireRuntime } from '../wiring';
import { loadPipelineConfig } from './load-config';

// examples/qwen2.5-0.5b-layout/pipeline.yaml (docs/PERFORMANCE.md, "Real-size run") against the real
// stage schemas; running it needs the ~1 GB directory of `npm run make:qwen2.5-0.5b-layout`.
const root = join(import.meta.dirname, '..', '..', '..', '..');

describe('examples/qwen2.5-0.5b-layout/pipeline.yaml', () => {
  it('validates: select -> em (LoRA) -> grpo (LoRA) -> eval on the generator\'s default output directory', () => {
    const config = loadPipelineConfig(join(root, 'examples', 'qwen2.5-0.5b-layout', 'pipeline.yaml'), wireRuntime().registry);
    expect(config.stages.map((s) => s.kind)).toEqual(['select', 'em', 'grpo', 'eval']);
    const options = config.stages.map((s) => s.options as { lora?: { r: number } });
    expect(options[1]!.lora?.r).toBe(8);
    expect(options[2]!.lora?.r).toBe(8);
    expect(config.model).toMatchObject({ type: 'hf', path: join(root, 'tmp', 'qwen2.5-0.5b-layout') });
  });
});

describe('examples/qwen2.5-0.5b-layout/pipeline-4rows.yaml', () => {
  it('validates: 4 rows per forward (EM 4 rollouts, GRPO 2 x 2 in one micro-batch), same model directory', () => {
    const config = loadPipelineConfig(join(root, 'examples', 'qwen2.5-0.5b-layout', 'pipeline-4rows.yaml'), wireRuntime().registry);
    expect(config.stages.map((s) => s.kind)).toEqual(['select', 'em', 'grpo', 'eval']);
    const options = config.stages.map((s) => s.options as { rollouts?: number; promptsPerStep?: number; groupSize?: number; gradientAccumulationSteps?: number });
    expect(options[1]!.rollouts).toBe(4);
    expect(options[2]).toMatchObject({ promptsPerStep: 2, groupSize: 2, gradientAccumulationSteps: 1 });
    expect(config.model).toMatchObject({ type: 'hf', path: join(root, 'tmp', 'qwen2.5-0.5b-layout') });
  });
});
