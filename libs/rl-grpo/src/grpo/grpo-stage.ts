import type { Observable } from 'rxjs';
import { withTotalSteps } from '@emrl/lm';
import { evalEveryHooks } from '../eval/eval-every';
import type { Policy } from '../policy';
import { combineHooks } from '../stage-kit/hooks';
import type { LossTermPlugin, TrainerHooks } from '../stage-kit/plugin';
import type { Registry } from '../stage-kit/registry';
import type { Stage, StageContext, StageEvent, StageFactory } from '../stage-kit/stage';
import { stageCadence, trainingStage } from '../stage-kit/training-stage';
import { prepareStageLora } from '../stage-kit/stage-lora';
import { streamSeed } from '../seed';
import type { Task } from '../tasks/task';
import { modelParameters } from '../trainer/parameters';
import { Trainer } from '../trainer/trainer';
import { logitsBudgetBytes } from '../trainer/logits-budget';
import { grpoConfigSchema, type GrpoConfig } from './grpo-config';
import { GroupSampler } from './group-sampler';
import { GrpoPolicyTerm } from './grpo-policy-term';

export interface GrpoTrainerOptions {
  policy: Policy;
  task: Task;
  /** Parsed GRPO options (GrpoConfigSchema or grpoConfigSchema(registry)). */
  config: GrpoConfig;
  seed: number;
  /** Resolves reward names (and nothing else: pass plugin terms built already in `plugins`). */
  registry: Registry;
  plugins?: LossTermPlugin[];
  hooks?: TrainerHooks;
  /** Stage id used to derive random streams. */
  id?: string;
  /** True when the stage attached the policy's LoRA adapter (the KL reference is then the base without it). */
  loraAttachedByStage?: boolean;
}

/**
 * GRPO as one configuration of the trainer: the group sampler (G completions per prompt, rewards,
 * group-relative advantages, dynamic sampling), the grpo-policy term plus any plugin terms, and
 * the model's weights as the parameters, or only its LoRA adapter's when one is attached (an
 * attached logits adapter stays frozen).
 */
export function grpoTrainer(o: GrpoTrainerOptions): Trainer {
  const c = o.config;
  const id = o.id ?? 'grpo';
  const maxNewTokens = c.maxCompletionLength ?? o.task.maxCompletionLength;
  return new Trainer({
    id,
    model: o.policy.model,
    workers: o.policy.workers ?? null,
    sampler: new GroupSampler({
      policy: o.policy,
      task: o.task,
      id,
      seed: o.seed,
      split: c.split,
      promptsPerStep: c.promptsPerStep,
      groupSize: c.groupSize,
      temperature: c.temperature,
      topP: c.topP,
      topK: c.topK,
      maxNewTokens,
      rewards: c.rewards.map((r) => ({ ...r, fn: o.registry.reward(r.name) })),
      scaleRewards: c.scaleRewards,
      dynamicSampling: c.dynamicSampling,
      maxRefills: c.maxRefills ?? 3,
      maskTruncatedCompletions: c.maskTruncatedCompletions,
      totalSteps: c.steps,
    }),
    terms: [
      new GrpoPolicyTerm({
        model: o.policy.model,
        epsLow: c.epsLow,
        epsHigh: c.epsHigh ?? c.epsLow,
        beta: c.beta,
        importanceLevel: c.importanceSampling,
        lossType: c.lossType,
        maxCompletionLength: maxNewTokens,
        iterations: c.numIterations,
        loraAttachedByStage: o.loraAttachedByStage,
      }),
      ...(o.plugins ?? []),
    ],
    parameters: modelParameters(o.policy.model),
    optimizer: { lr: c.lr, weightDecay: c.weightDecay, gradClip: c.gradClip, schedule: withTotalSteps(c.schedule, c.steps) },
    totalSteps: c.steps,
    temperature: c.temperature,
    iterations: c.numIterations,
    microBatches: c.gradientAccumulationSteps,
    logitsBudgetBytes: logitsBudgetBytes(c.logitsBudgetMiB),
    hooks: o.hooks,
    seed: streamSeed(o.seed, id, 'train-mode'),
  });
}

/** GRPO training as a pipeline stage. Extra hooks (early stopping, logging) can be passed in code. */
export class GrpoStage implements Stage<GrpoConfig> {
  readonly kind = 'grpo';
  constructor(
    readonly id: string,
    /** Options parsed by grpoConfigSchema(registry): plugin options are not parsed again. */
    readonly config: GrpoConfig,
    private readonly registry: Registry,
    private readonly extraHooks: TrainerHooks[] = [],
  ) {}

  run(ctx: StageContext): Observable<StageEvent> {
    const c = this.config;
    return trainingStage({
      ...stageCadence(this, c),
      ctx,
      build: () => {
        const lora = prepareStageLora(ctx.policy.model, c.lora, { seed: ctx.seed, stageId: this.id });
        const plugins = this.registry.createLossTerms(c.plugins);
        const others = combineHooks([...plugins.map((p) => p.hooks), ...this.extraHooks]);
        const evalHooks = evalEveryHooks({ every: c.evalEvery, limit: c.evalLimit, seed: ctx.seed, policy: ctx.policy, task: ctx.task }, others);
        const hooks = combineHooks([others, evalHooks]);
        const trainer = grpoTrainer({ policy: ctx.policy, task: ctx.task, config: c, seed: ctx.seed, registry: this.registry, plugins, hooks, id: this.id, loraAttachedByStage: lora.attachedByStage });
        return { trainer, hooks, logs: lora.log ? [lora.log] : [] };
      },
    });
  }
}

/** The `grpo` stage kind of a pipeline built on `registry`. */
export function grpoStageFactory(registry: Registry): StageFactory<ReturnType<typeof grpoConfigSchema>> {
  return { kind: 'grpo', schema: grpoConfigSchema(registry), create: (id, config) => new GrpoStage(id, config, registry) };
}
