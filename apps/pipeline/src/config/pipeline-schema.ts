import { z } from 'zod';
import { LogitsBudgetMiBSchema, TaskSpecSchema, type TaskSpec } from '@emrl/rl-grpo';

/** Which model a pipeline starts from. */
export const ModelSpecSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('embedded').meta({ description: 'the base model shipped with emrl' }),
      id: z.string().optional().meta({ description: 'embedded model id (default: the one built for the task)' }),
    })
    .strict(),
  z
    .object({
      type: z.literal('hf'),
      path: z.string().min(1).meta({ description: 'Hugging Face model directory (config.json, *.safetensors, tokenizer.json)' }),
      adapter: z
        .string()
        .min(1)
        .optional()
        .meta({ description: "PEFT LoRA adapter directory (adapter_config.json + adapter_model.safetensors) attached to the model; a LoRA stage then continues training it" }),
    })
    .strict(),
]);
export type ModelSpec = z.infer<typeof ModelSpecSchema>;

/**
 * The task: rl-grpo's one TaskSpec. Only `type` is checked here: the rl-grpo task registry
 * validates the rest of the object against the named task's own schema when the task is built.
 */
export { TaskSpecSchema, type TaskSpec };

export const BackendPreferenceSchema = z.enum(['auto', 'wasm', 'cpu', 'tensorflow', 'tensorflow-gpu']);
export type BackendPreference = z.infer<typeof BackendPreferenceSchema>;

/** Threads of a run: a count, or "auto" (the machine's cores, at most 8). */
export const ThreadsSchema = z.union([z.number().int().min(1).max(64), z.literal('auto')], {
  error: 'expected a whole number of threads from 1 to 64 (e.g. 2), or "auto" (the machine\'s cores, at most 8)',
});
export type Threads = z.infer<typeof ThreadsSchema>;

/** What the scheduler measures at every stage boundary (start, between stages, end). */
export const DiagnosticsConfigSchema = z
  .object({
    enabled: z.boolean().default(true).meta({ description: 'false skips boundary diagnostics entirely' }),
    probeSize: z.number().int().positive().default(16).meta({ description: 'fixed probe prompts (task "probe" split)' }),
    temperatures: z
      .array(z.number().min(0))
      .min(1)
      .default([0, 0.6, 1])
      .meta({ description: 'evaluation temperatures for accuracy-by-temperature (0 = greedy)' }),
    samplesPerPrompt: z.number().int().positive().default(4),
    logitStatsTopK: z
      .number()
      .int()
      .min(0)
      .default(0)
      .meta({ description: 'logit statistics over the top-k logits per position; 0 = full vocabulary' }),
    logitStatsTemperature: z.number().positive().default(0.6).meta({ description: 'sampling temperature of the responses whose logits are pooled' }),
    histogramBins: z.number().int().min(2).default(40),
    maxNewTokens: z.number().int().positive().optional().meta({ description: 'default: the task maximum' }),
    logitsBudgetMiB: LogitsBudgetMiBSchema,
  })
  .strict();
export type DiagnosticsConfig = z.infer<typeof DiagnosticsConfigSchema>;

/**
 * The pipeline file before stage options are checked. Stage entries are validated separately
 * against the registered StageFactory schemas (see load-config.ts), so custom kinds work.
 */
export const PipelineFileSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ".", "_" and "-" only').optional(),
    description: z.string().optional(),
    model: ModelSpecSchema.default({ type: 'embedded' }),
    task: TaskSpecSchema,
    seed: z.number().int().min(0).default(0),
    backend: BackendPreferenceSchema.default('auto'),
    threads: ThreadsSchema.default(1).meta({
      description:
        'threads that share the rows of every generation, scoring and gradient pass (wasm/cpu: one model replica per extra thread); "auto" = the cores, at most 8. Numbers are reproducible for a given seed and thread count',
    }),
    diagnostics: DiagnosticsConfigSchema.default(DiagnosticsConfigSchema.parse({})),
    stages: z.array(z.record(z.string(), z.unknown())).meta({ description: 'ordered list of { <kind>: { options } }' }),
  })
  .strict();
export type PipelineFile = z.infer<typeof PipelineFileSchema>;

/** One stage after validation: unique id, kind and options parsed by the kind's schema. */
export const StageSpecSchema = z.object({ id: z.string(), kind: z.string(), options: z.unknown() }).strict();
export type StageSpec = z.infer<typeof StageSpecSchema>;

export const PipelineConfigSchema = PipelineFileSchema.extend({
  name: z.string(),
  stages: z.array(StageSpecSchema),
});
/** A validated pipeline: defaults filled, stage options parsed. JSON-serializable (config.json). */
export type PipelineConfig = z.infer<typeof PipelineConfigSchema>;
