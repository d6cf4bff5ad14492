import { evaluate } from '../eval/evaluate';
import { GrpoConfigSchema, type GrpoConfig } from './grpo-config';
import { combineHooks } from '../stage-kit/hooks';
import type { TrainerHooks } from '../stage-kit/plugin';
import { createLossTermPlugins } from '../stage-kit/registry';
import type { Stage, StageContext, StageEvent, StageFactory } from '../stage-kit/stage';
import { checkpointDue, resumeFromCheckpoint, saveTrainingCheckpoint } from '../stage-kit/stage-checkpoint';
import { stepLoop } from '../stage-kit/stage-loop';
import { GrpoTrainer } from './trainer';
import type { Observable } from 'rxjs';

/** GRPO training as a pipeline stage. Extra hooks (early stopping, logging) can be passed in code. */
export class GrpoStage implements Stage<GrpoConfig> {
  readonly kind = 'grpo';
  constructor(
    readonly id: string,
    readonly config: GrpoConfig,
    private readonly extraHooks: TrainerHooks[] = [],
  ) {}

  run(ctx: StageContext): Observable<StageEvent> {
    const c = this.config;
    let trainer: GrpoTrainer | null = null;
    let last: Record<string, number> = {};
    let hooks: TrainerHooks = {};
    return stepLoop({
      stage: this.id,
      kind: this.kind,
      totalSteps: c.steps,
      logEvery: c.logEvery,
      setup: async () => {
        const plugins = createLossTermPlugins(c.plugins);
        hooks = combineHooks([...plugins.map((p) => p.hooks), ...this.extraHooks]);
        trainer = new GrpoTrainer({
          policy: ctx.policy,
          task: ctx.task,
          config: c,
          seed: ctx.seed,
          plugins,
          hooks,
          id: this.id,
        });
        const resumed = await resumeFromCheckpoint(ctx, ctx.policy, (s) => trainer!.loadStateTensors(s));
        if (!resumed) return { startStep: 0 };
        trainer.loadPluginStates(resumed.state.pluginStates);
        if (resumed.state.extra['hooks'] !== undefined) hooks.loadState?.(resumed.state.extra['hooks']);
        return { startStep: resumed.state.step, logs: [resumed.log] };
      },
      step: async (step) => {
        const out = await trainer!.step(step);
        if (!out.skipped && c.evalEvery > 0 && (step + 1) % c.evalEvery === 0) {
          const info = { stage: this.id, step, totalSteps: c.steps };
          await hooks.beforeEval?.(info);
          const r = await evaluate(ctx.policy, ctx.task, { temperatures: [0], split: 'test', limit: c.evalLimit }, { seed: ctx.seed });
          out.metrics['eval_accuracy'] = r.byTemperature[0]!.accuracy;
          const after = await hooks.afterEval?.({ ...info, metrics: out.metrics });
          if (after && after.stop && !out.stop) out.stop = { reason: after.reason };
        }
        last = out.metrics;
        return out;
      },
      checkpoint: async (step, isLast) => {
        if (!ctx.checkpointDir) return null;
        if (!checkpointDue(step, isLast, c.checkpointEvery)) return null;
        const saved = await saveTrainingCheckpoint(ctx.checkpointDir, {
          step: step + 1,
          policy: ctx.policy,
          optimizerState: trainer!.stateTensors(),
          pluginStates: trainer!.pluginStates(),
          extra: { hooks: hooks.state?.() ?? null },
        });
        return saved.path;
      },
      finish: async () => ({
        policy: { ...ctx.policy, name: `${ctx.policy.name}>${this.id}` },
        summary: last,
      }),
      teardown: () => {
        trainer?.dispose();
        trainer = null;
      },
    });
  }
}

export const grpoStageFactory: StageFactory<typeof GrpoConfigSchema> = {
  kind: 'grpo',
  schema: GrpoConfigSchema,
  create: (id, config) => new GrpoStage(id, config),
};
