import { z } from 'zod';
import { LrScheduleSchema } from '@emrl/lm';
import { parsePluginSpecs, type Registry } from '../stage-kit/registry';
import { StageLoraConfigSchema } from '../stage-kit/stage-lora';
import { LogitsBudgetMiBSchema } from '../trainer/logits-budget';

const d = (description: string) => ({ description });

/** One plugin entry: `{ <registered name>: { ...options } }` (options checked by the registry's schema). */
export const PluginSpecSchema = z.record(z.string(), z.unknown()).meta({ description: 'One key, the plugin name, e.g. { em-regularizer: { coef: 0.01 } }.' });

export const RewardSpecSchema = z
  .object({
    name: z.string().meta(d('A registered reward function ("accuracy", "format", or one added with registerReward).')),
    weight: z.number().default(1),
  })
  .strict();

/**
 * GRPO options, named and defaulted as TRL's GRPOConfig / verl's actor config where one exists
 * (research-brief.md section 3). Defaults are scaled for the embedded 2-layer model, not 7B models.
 */
export const GrpoConfigSchema = z
  .object({
    // Parameters that control the data and generation
    steps: z.number().int().positive().default(40).meta(d('Optimizer steps (TRL max_steps).')),
    promptsPerStep: z.number().int().positive().default(8).meta(d('Distinct prompts per step.')),
    groupSize: z.number().int().min(2).default(8).meta(d('Completions per prompt (TRL num_generations, G).')),
    temperature: z.number().min(0).default(1).meta(d('Sampling temperature; log-probs and entropies are computed on logits / temperature.')),
    topP: z.number().gt(0).max(1).default(1).meta(d('Nucleus sampling; 1 turns it off.')),
    topK: z.number().int().min(0).default(0).meta(d('Top-k sampling; 0 turns it off.')),
    maxCompletionLength: z.number().int().positive().optional().meta(d("Max new tokens; default: the task's maxCompletionLength.")),
    split: z.enum(['train', 'test', 'probe']).default('train').meta(d("Task split the step's prompts are drawn from (TRL: the train_dataset).")),
    // Parameters that control the rewards and advantages
    rewards: z.array(RewardSpecSchema).min(1).default([{ name: 'accuracy', weight: 1 }]).meta(d('Weighted reward functions by registered name (TRL reward_funcs + reward_weights); a function may return null = not applicable.')),
    scaleRewards: z.enum(['group', 'batch', 'none']).default('group').meta(d('Divide advantages by the group std (GRPO), the batch std, or not at all (Dr. GRPO, arXiv 2503.20783).')),
    dynamicSampling: z.boolean().default(false).meta(d('Drop groups whose rewards are all equal and sample more prompts (DAPO, arXiv 2503.14476).')),
    maxRefills: z.number().int().min(0).optional().meta(d('With dynamicSampling: extra sampling rounds per step before training on what is there (default 3).')),
    maskTruncatedCompletions: z.boolean().default(false).meta(d('Exclude completions that hit maxCompletionLength from the loss (TRL mask_truncated_completions).')),
    // Parameters that control the loss
    lossType: z.enum(['grpo', 'bnpo', 'dr_grpo']).default('bnpo').meta(d('grpo: mean of per-sequence token means; bnpo: token-mean over the batch; dr_grpo: sum / (B * maxCompletionLength).')),
    importanceSampling: z.enum(['token', 'sequence']).default('token').meta(d('Token ratios, or sequence-mean log ratio (GSPO, arXiv 2507.18071).')),
    epsLow: z.number().min(0).default(0.2).meta(d('Lower clip range of the importance ratio (TRL epsilon).')),
    epsHigh: z.number().min(0).optional().meta(d('Upper clip; default = epsLow. DAPO clip-higher uses 0.28.')),
    beta: z.number().min(0).default(0.04).meta(d('KL coefficient to the frozen reference (k3 estimator); 0 turns the reference off.')),
    numIterations: z.number().int().positive().default(1).meta(d('Updates per batch of rollouts (mu); old log-probs are kept from before the first update.')),
    // Parameters that control the optimizer
    lr: z.number().positive().default(1e-4).meta(d('AdamW learning rate (TRL learning_rate; TRL default 1e-6 for 7B models, emrl 1e-4 for the embedded model).')),
    weightDecay: z.number().min(0).default(0).meta(d('AdamW decoupled weight decay (TRL weight_decay).')),
    gradClip: z.number().min(0).default(1).meta(d('Max global grad norm; 0 turns clipping off.')),
    gradientAccumulationSteps: z.number().int().positive().default(1).meta(d('Split each step into this many micro-batches of prompts.')),
    schedule: LrScheduleSchema.default({ type: 'constant' }).meta(d("Learning-rate schedule; a decay's totalSteps defaults to the stage's steps.")),
    // Parameters that control what trains
    lora: StageLoraConfigSchema.optional(),
    // Extension points
    plugins: z
      .array(PluginSpecSchema)
      .default([])
      .meta(d('Loss-term plugins, each `{ <name>: { ...options } }`, e.g. `{ entropy-bonus: { coef: 0.001 } }` or `{ em-regularizer: { coef: 0.01 } }`.')),
    // Parameters that control logging, evaluation and checkpoints
    logEvery: z.number().int().positive().default(1).meta(d('Emit a progress event every N steps (TRL logging_steps); metrics are recorded every step.')),
    evalEvery: z.number().int().min(0).default(0).meta(d('Evaluate on the test split every N steps; 0 turns it off.')),
    evalLimit: z.number().int().positive().default(64).meta(d('Test prompts used by in-training evaluation (greedy).')),
    checkpointEvery: z.number().int().min(0).default(10).meta(d('Save model + optimizer state every N steps and at the end (0: only at the end) when the stage has a checkpoint directory (TRL save_steps).')),
    checkpointMinutes: z.number().min(0).default(10).meta(d('Also save when this many minutes passed since the last save (0: off), so an interrupted long run keeps its progress.')),
    logitsBudgetMiB: LogitsBudgetMiBSchema,
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.promptsPerStep % c.gradientAccumulationSteps !== 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['gradientAccumulationSteps'],
        message: `promptsPerStep (${c.promptsPerStep}) must be divisible by gradientAccumulationSteps (${c.gradientAccumulationSteps}); change one of them`,
      });
    }
    if (c.maxRefills !== undefined && !c.dynamicSampling) {
      ctx.addIssue({ code: 'custom', path: ['maxRefills'], message: `maxRefills (${c.maxRefills}) only acts with dynamicSampling: true; set dynamicSampling: true or remove maxRefills` });
    }
    if (c.epsHigh !== undefined && c.epsHigh < c.epsLow) {
      ctx.addIssue({ code: 'custom', path: ['epsHigh'], message: `epsHigh (${c.epsHigh}) is below epsLow (${c.epsLow}); clip-higher needs epsHigh >= epsLow` });
    }
  });

export type GrpoConfig = z.infer<typeof GrpoConfigSchema>;

/**
 * The GRPO schema of a pipeline built on `registry`: the static checks, then each plugin's options
 * parsed once by its own schema (the output holds the parsed options, in the input's form, so a
 * resolved config.json parses again) and every reward name checked.
 */
export function grpoConfigSchema(registry: Registry) {
  return GrpoConfigSchema.transform((c, ctx) => {
    c.rewards.forEach((r, i) => {
      if (!registry.rewardNames().includes(r.name)) {
        ctx.addIssue({ code: 'custom', path: ['rewards', i, 'name'], message: `unknown reward function "${r.name}"; registered: ${registry.rewardNames().join(', ')} (add one with registry.registerReward)` });
      }
    });
    return { ...c, plugins: parsePluginSpecs(registry, c.plugins, ctx) };
  });
}
export type GrpoConfigInput = z.input<typeof GrpoConfigSchema>;
