import { z } from 'zod';
import { LrScheduleSchema } from '@emrl/lm';
import { EarlyStopCriterionSchema, EARLY_STOP_CRITERIA, createCriterion, type StopCriterion } from './early-stop';
import { LogitsBudgetMiBSchema, StageLoraConfigSchema, type StageContext, type TaskExample } from '@emrl/rl-grpo';
import type { SelectionResult } from './selection';

const d = (description: string) => ({ description });

export const EmPromptSourceSchema = z.union([
  z.literal('selected').meta(d('The prompt(s) chosen by an earlier select stage.')),
  z.object({ text: z.array(z.string().min(1)).min(1) }).strict().meta(d('Explicit prompt texts.')),
  z.object({ split: z.enum(['train', 'test', 'probe']), count: z.number().int().positive().default(1) }).strict(),
]);


/**
 * Label-free early stopping of the EM stage (one-shot EM, arXiv 2505.20282, leaves over-confidence
 * open: the loss keeps falling after accuracy peaks). Signals are measured on held-out UNLABELED
 * prompts after every `every`-th step (heldout-signals.ts) and before the first one (step 0).
 */
export const EmEarlyStopConfigSchema = z
  .object({
    signal: z.enum(EARLY_STOP_CRITERIA).default('agreement').meta(
      d('agreement: stop when maj@k consistency (heldout/agreement) stops improving; entropy-plateau: when the relative drop of heldout/entropy stalls; skewness-jump: when heldout/skewness jumps.'),
    ),
    split: z.enum(['train', 'test', 'probe']).default('probe').meta(d('Held-out prompts come from this split (answers unused).')),
    heldOut: z.number().int().positive().default(8).meta(d('Number of held-out prompts (from the start of the split).')),
    samples: z.number().int().positive().default(4).meta(d('k samples per held-out prompt (agreement needs k >= 2).')),
    sampleTemperature: z.number().min(0).optional().meta(d("Sampling temperature of the held-out draw; default: the stage's sampleTemperature.")),
    patience: z.number().int().positive().default(2).meta(d('Measurements without progress before stopping (agreement, entropy-plateau).')),
    minDelta: z.number().min(0).optional().meta(
      d('agreement: smallest improvement that counts (default 0); entropy-plateau: smallest relative drop that counts as progress (default 0.01); skewness-jump: |change| that counts as a jump (default 0.5).'),
    ),
    minSteps: z.number().int().min(0).default(0).meta(d('Never stop before this many completed steps.')),
    every: z.number().int().positive().default(1).meta(d('Measure after every N-th step (and the last).')),
    restoreBest: z.boolean().default(false).meta(
      d("On a stop, restore the weights of the criterion's best step (keeps up to patience + 2 copies of the weights in memory)."),
    ),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.signal === 'agreement' && c.samples < 2) {
      ctx.addIssue({ code: 'custom', path: ['samples'], message: 'em-stage earlyStop: signal "agreement" needs samples >= 2 (maj@k over k samples); raise samples' });
    }
  });
export type EmEarlyStopConfig = z.infer<typeof EmEarlyStopConfigSchema>;

/**
 * One-shot entropy minimization (arXiv 2505.20282) as a stage. Paper defaults: tau 0.5, top-p 0.95,
 * 64 rollouts, AdamW 2e-5, clip 1, 10 steps on a 7B model; the defaults here are the embedded
 * lab's scaled values (embedded-lab.md: 8 rollouts at T = 1, tau 0.5, lr 1e-4, 5-10 steps).
 */
export const EmStageConfigSchema = z
  .object({
    steps: z.number().int().positive().default(10),
    prompt: EmPromptSourceSchema.default('selected'),
    rollouts: z.number().int().positive().default(8).meta(d('Completions sampled per prompt per step (paper: 64).')),
    sampleTemperature: z.number().min(0).default(1).meta(d('Sampling temperature of the on-policy rollouts (paper: 0.5).')),
    topP: z.number().gt(0).max(1).default(1).meta(d('Nucleus sampling of the rollouts (paper: 0.95); 1 turns it off.')),
    entropyTemperature: z.number().positive().optional().meta(d('Entropy temperature tau of the EM loss: H of softmax(z / tau); default 0.5 (the paper). Not a sampling temperature: the rollouts use sampleTemperature.')),
    temperature: z.number().positive().optional().meta(d('Deprecated name of entropyTemperature (kept so older pipeline files run); give one of the two.')),
    pooling: z.enum(['token-mean', 'sequence-mean']).default('token-mean'),
    lastFraction: z.number().gt(0).max(1).optional().meta(d('Count only the last fraction of each response (RENT, arXiv 2505.22660).')),
    lr: z.number().positive().default(1e-4),
    schedule: LrScheduleSchema.default({ type: 'constant' }).meta(d("Learning-rate schedule (as grpo's); a decay's totalSteps defaults to the stage's steps.")),
    weightDecay: z.number().min(0).default(0.01),
    gradClip: z.number().min(0).default(1),
    maxNewTokens: z.number().int().positive().optional(),
    lora: StageLoraConfigSchema.optional(),
    checkpointEvery: z.number().int().min(0).default(10).meta(d('Save every N steps and at the end (0: only at the end).')),
    checkpointMinutes: z.number().min(0).default(10).meta(d('Also save when this many minutes passed since the last save (0: off).')),
    logEvery: z.number().int().positive().default(1),
    earlyStop: EmEarlyStopConfigSchema.optional().meta(d('Label-free early stopping on held-out unlabeled prompts (off when absent).')),
    evalEvery: z.number().int().min(0).default(0).meta(
      d(
        "Measure greedy accuracy on the task's TEST split (metric eval_accuracy) before the first step and after every N-th step (and the last); 0 = off. " +
          'A MEASUREMENT ONLY: the test labels are never seen by the EM loss or the early stopper.',
      ),
    ),
    evalLimit: z.number().int().positive().default(100).meta(d('eval_accuracy uses the first N prompts of the test split.')),
    logitsBudgetMiB: LogitsBudgetMiBSchema,
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.entropyTemperature !== undefined && c.temperature !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['temperature'], message: 'give entropyTemperature (the EM loss tau) or its old name temperature, not both' });
    }
  })
  // The resolved config names tau once, under its new name, filled in (config.json reproduces the run).
  .transform(({ temperature, ...c }) => ({ ...c, entropyTemperature: c.entropyTemperature ?? temperature ?? 0.5 }));
export type EmStageConfig = z.output<typeof EmStageConfigSchema>;

/** The EM loss's entropy temperature tau of a stage config (entropyTemperature, its old name temperature, or 0.5). */
export function emEntropyTemperature(c: { entropyTemperature?: number; temperature?: number }): number {
  return c.entropyTemperature ?? c.temperature ?? 0.5;
}

/** Resolves the EM prompts from config and earlier stages' results. */
export function resolveEmPrompts(config: EmStageConfig, ctx: StageContext, stageId: string): TaskExample[] {
  const p = config.prompt;
  if (p === 'selected') {
    const sel = Object.values(ctx.previous ?? {}).reverse().find((r) => r.kind === 'select');
    const result = sel?.result as SelectionResult | undefined;
    if (!result || !result.selected?.length) {
      throw new Error(`stage "${stageId}": prompt: "selected" needs an earlier select stage in the pipeline; add one, or set prompt: { text: [...] } or { split: train, count: 1 }`);
    }
    return result.selected.map((s) => ({ id: s.id, prompt: s.prompt, answer: '' }));
  }
  if ('text' in p) return p.text.map((text, i) => ({ id: `text-${i}`, prompt: text, answer: '' }));
  return ctx.task.split(p.split).slice(0, p.count);
}

/** The criterion of an EM early-stop config: the shared vocabulary's, on the held-out signals. */
export function emStopCriterion(c: EmEarlyStopConfig): StopCriterion {
  const minDelta = c.minDelta === undefined ? {} : { minDelta: c.minDelta };
  return createCriterion(EarlyStopCriterionSchema.parse(c.signal === 'skewness-jump' ? { type: c.signal, ...minDelta } : { type: c.signal, patience: c.patience, ...minDelta }));
}
