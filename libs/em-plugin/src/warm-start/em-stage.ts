import type { Observable } from 'rxjs';
import { withTotalSteps } from '@emrl/lm';
import {
  logitsBudgetBytes,
  modelParameters,
  PromptSampler,
  prepareStageLora,
  streamSeed,
  Trainer,
  stageCadence,
  trainingStage,
  type Stage,
  type StageContext,
  type StageEvent,
  type StageFactory,
  type TaskExample,
} from '@emrl/rl-grpo';
import { answerEntropy, majorityAnswer } from '../shared/answer-entropy';
import { EmLossTerm } from '../regularizer/regularizer';
import { EmMonitorHooks } from './em-monitor';
import { emEntropyTemperature, EmStageConfigSchema, resolveEmPrompts, type EmStageConfig } from './em-stage-config';

export * from './em-stage-config';

/**
 * One-shot entropy minimization (arXiv 2505.20282) as a stage: the trainer with fresh on-policy
 * rollouts of the chosen prompt(s) each step, the EM term (token entropy at tau) as its loss and
 * the model's weights (or only its LoRA adapter's, with `lora`) as its parameters (an attached
 * logits adapter stays frozen). Paper defaults:
 * tau 0.5, top-p 0.95, 64 rollouts, AdamW 2e-5, clip 1, 10 steps on a 7B model; the defaults here
 * are the embedded lab's scaled values (embedded-lab.md: 8 rollouts at T = 1, tau 0.5, lr 1e-4).
 */
export class EmStage implements Stage<EmStageConfig> {
  readonly kind = 'em';
  constructor(
    readonly id: string,
    readonly config: EmStageConfig,
  ) {}

  run(ctx: StageContext): Observable<StageEvent> {
    const c = this.config;
    let prompts: TaskExample[] = [];
    return trainingStage({
      ...stageCadence(this, c),
      ctx,
      build: () => {
        prompts = resolveEmPrompts(c, ctx, this.id);
        const lora = prepareStageLora(ctx.policy.model, c.lora, { seed: ctx.seed, stageId: this.id });
        const hooks = new EmMonitorHooks(c, ctx, this.id);
        const sampler = new PromptSampler({
          policy: ctx.policy,
          task: ctx.task,
          prompts,
          rollouts: c.rollouts,
          sampling: (step) => ({
            temperature: c.sampleTemperature,
            topP: c.topP,
            topK: 0,
            maxNewTokens: c.maxNewTokens ?? ctx.task.maxCompletionLength,
            seed: streamSeed(ctx.seed, this.id, step, 'sample'),
          }),
          metricsOf: (r) => {
            const answers = r.completions.map((comp) => ctx.task.extractAnswer(comp));
            return { 'em/answer_entropy': answerEntropy(answers), 'em/majority_share': majorityAnswer(answers)?.share ?? 0 };
          },
        });
        const trainer = new Trainer({
          id: this.id,
          model: ctx.policy.model,
          workers: ctx.policy.workers ?? null,
          sampler,
          terms: [new EmLossTerm({ temperature: emEntropyTemperature(c), pooling: c.pooling, lastFraction: c.lastFraction, coef: { type: 'fixed', value: 1 } }, 'em')],
          parameters: modelParameters(ctx.policy.model),
          optimizer: { lr: c.lr, weightDecay: c.weightDecay, gradClip: c.gradClip, schedule: withTotalSteps(c.schedule, c.steps) },
          totalSteps: c.steps,
          temperature: emEntropyTemperature(c),
          logitsBudgetBytes: logitsBudgetBytes(c.logitsBudgetMiB),
          hooks,
          seed: streamSeed(ctx.seed, this.id, 'train-mode'),
        });
        return { trainer, hooks, logs: [...(lora.log ? [lora.log] : []), `EM on ${prompts.length} prompt(s): ${prompts.map((p) => JSON.stringify(p.prompt)).join(', ')}`, ...hooks.describe()] };
      },
      result: () => ({ prompts: prompts.map((p) => ({ id: p.id, prompt: p.prompt })) }),
    });
  }
}

export const emStageFactory: StageFactory<typeof EmStageConfigSchema> = {
  kind: 'em',
  schema: EmStageConfigSchema,
  create: (id, config) => new EmStage(id, config),
};
