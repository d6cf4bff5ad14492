// Test-only: the option schemas the shipped presets are written against, as fake StageFactories
// whose stages only echo their config. The real select/em/grpo/compress/eval factories replace
// these in the lead's wiring; presets.test.ts then checks the presets against the real schemas.
import { EMPTY } from 'rxjs';
import { z } from 'zod';
import type { StageFactory } from '@emrl/rl-grpo';
import { StageRegistry } from '../config/stage-registry';

const PluginSchema = z.union([
  z.object({ 'em-regularizer': z.object({ coef: z.number().min(0) }).strict() }).strict(),
  z.object({ 'entropy-bonus': z.object({ coef: z.number().min(0) }).strict() }).strict(),
]);

export const PRESET_STAGE_SCHEMAS: Record<string, z.ZodType> = {
  select: z.object({ candidates: z.number().int().positive().default(32), samplesPerPrompt: z.number().int().positive().default(8), temperature: z.number().min(0).default(1), topN: z.number().int().positive().default(1) }).strict(),
  em: z
    .object({
      steps: z.number().int().positive().default(10),
      lr: z.number().positive().default(2e-5),
      temperature: z.number().positive().default(0.5),
      sampleTemperature: z.number().positive().default(0.5),
      topP: z.number().gt(0).max(1).default(0.95),
      rollouts: z.number().int().positive().default(16),
      prompt: z.literal('selected').default('selected'),
    })
    .strict(),
  grpo: z
    .object({
      steps: z.number().int().positive().default(40),
      promptsPerStep: z.number().int().positive().default(4),
      groupSize: z.number().int().min(2).default(8),
      lr: z.number().positive().default(1e-5),
      beta: z.number().min(0).default(0),
      epsLow: z.number().min(0).default(0.2),
      epsHigh: z.number().min(0).default(0.28),
      temperature: z.number().positive().default(1),
      plugins: z.array(PluginSchema).default([]),
    })
    .strict(),
  compress: z.object({ steps: z.number().int().positive().default(20), lr: z.number().positive().default(1e-2), adapter: z.enum(['temperature', 'low-rank']).default('temperature') }).strict(),
  eval: z.object({ temperatures: z.array(z.number().min(0)).default([0, 0.6, 1]), samples: z.number().int().positive().default(4), split: z.enum(['train', 'test', 'probe']).default('test') }).strict(),
};

export function createPresetSchemaRegistry(): StageRegistry {
  const r = new StageRegistry();
  for (const [kind, schema] of Object.entries(PRESET_STAGE_SCHEMAS)) {
    const f: StageFactory = { kind, schema, create: (id, config) => ({ kind, id, config, run: () => EMPTY }) };
    r.register(f);
  }
  return r;
}
