import type { Observable } from 'rxjs';
import { z } from 'zod';
import { oneShotStage, sampleGroups, streamSeed, type Stage, type StageContext, type StageEvent, type StageFactory } from '@emrl/rl-grpo';
import { selectOneShotPrompts } from './selection';

const d = (description: string) => ({ description });

/**
 * One-shot prompt selection by accuracy variance (arXiv 2505.20282, section on data selection; its
 * reference code was never released). Needs labels for the candidate pool only.
 */
export const SelectStageConfigSchema = z
  .object({
    split: z.enum(['train', 'test', 'probe']).default('train'),
    candidates: z.number().int().positive().default(64).meta(d('Candidate prompts taken from the start of the split.')),
    samplesPerPrompt: z.number().int().positive().default(16).meta(d('k responses per candidate; p = correct / k, variance p(1-p).')),
    temperature: z.number().min(0).default(1),
    topP: z.number().gt(0).max(1).default(1),
    topN: z.number().int().positive().default(1).meta(d('How many prompts to select.')),
    tieBreak: z.enum(['longer-responses', 'seed']).default('longer-responses').meta(d('Among equal variances prefer longer sampled responses (embedded-lab.md), then a seeded key.')),
    batchSize: z.number().int().positive().default(256).meta(d('Sequences per generate call.')),
  })
  .strict();
export type SelectStageConfig = z.infer<typeof SelectStageConfigSchema>;

export class SelectStage implements Stage<SelectStageConfig> {
  readonly kind = 'select';
  constructor(
    readonly id: string,
    readonly config: SelectStageConfig,
  ) {}

  run(ctx: StageContext): Observable<StageEvent> {
    const c = this.config;
    const candidates = ctx.task.split(c.split).slice(0, c.candidates);
    return oneShotStage({
      stage: this.id,
      kind: this.kind,
      totalSteps: candidates.length,
      run: async (emit) => {
        const t0 = performance.now();
        let call = 0;
        const promptsPerCall = Math.max(1, Math.floor(c.batchSize / c.samplesPerPrompt));
        const result = await selectOneShotPrompts({
          candidates,
          k: c.samplesPerPrompt,
          task: ctx.task,
          topN: c.topN,
          seed: ctx.seed,
          tieBreak: c.tieBreak,
          batchSize: promptsPerCall,
          sample: async (prompts) => {
            const examples = prompts.map((prompt, i) => ({ id: `c${i}`, prompt, answer: '' }));
            const r = await sampleGroups(ctx.policy, ctx.task, examples, c.samplesPerPrompt, {
              temperature: c.temperature,
              topP: c.topP,
              topK: 0,
              maxNewTokens: ctx.task.maxCompletionLength,
              seed: streamSeed(ctx.seed, this.id, call++),
            });
            const k = c.samplesPerPrompt;
            return {
              completions: prompts.map((_, p) => r.completions.slice(p * k, (p + 1) * k)),
              tokenCounts: prompts.map((_, p) => r.completionIds.slice(p * k, (p + 1) * k).map((t) => t.length)),
            };
          },
          onProgress: (done, total) =>
            emit({ type: 'progress', stage: this.id, step: done, totalSteps: total, etaSec: ((performance.now() - t0) / 1000 / done) * (total - done) }),
        });
        const top = result.selected[0];
        const summary: Record<string, number> = {
          'select/generations': result.cost.generations,
          'select/tokens': result.cost.tokens ?? Number.NaN,
          'select/seconds': (performance.now() - t0) / 1000,
          'select/top_p': top?.p ?? Number.NaN,
          'select/top_variance': top?.variance ?? Number.NaN,
          'select/candidates_at_max_variance': top ? top.tiedWith + 1 : 0,
        };
        emit({ type: 'log', stage: this.id, level: 'info', message: result.explanation });
        emit({ type: 'metrics', stage: this.id, step: candidates.length, metrics: summary });
        return { policy: ctx.policy, summary, result };
      },
    });
  }
}

export const selectStageFactory: StageFactory<typeof SelectStageConfigSchema> = {
  kind: 'select',
  schema: SelectStageConfigSchema,
  create: (id, config) => new SelectStage(id, config),
};
