import type { Observable } from 'rxjs';
import { z } from 'zod';
import { oneShotStage, saveTrainingCheckpoint, type Stage, type StageContext, type StageEvent, type StageFactory } from '@emrl/rl-grpo';

/** Removes the policy's logits adapter (e.g. a compression layer), so later stages see the raw model. */
export const RemoveAdapterStageConfigSchema = z.object({}).strict();
export type RemoveAdapterStageConfig = z.infer<typeof RemoveAdapterStageConfigSchema>;

export class RemoveAdapterStage implements Stage<RemoveAdapterStageConfig> {
  readonly kind = 'remove-adapter';
  constructor(
    readonly id: string,
    readonly config: RemoveAdapterStageConfig,
  ) {}

  run(ctx: StageContext): Observable<StageEvent> {
    return oneShotStage({
      stage: this.id,
      kind: this.kind,
      totalSteps: 1,
      run: async (emit) => {
        const adapter = ctx.policy.model.getLogitsAdapter();
        ctx.policy.model.setLogitsAdapter(null);
        const policy = { ...ctx.policy, name: `${ctx.policy.name}>${this.id}` };
        const message = adapter ? `removed logits adapter "${adapter.name}"` : 'the policy had no logits adapter; nothing removed';
        emit({ type: 'log', stage: this.id, level: adapter ? 'info' : 'warn', message });
        if (ctx.checkpointDir) {
          const saved = await saveTrainingCheckpoint(ctx.checkpointDir, { step: 1, policy });
          emit({ type: 'checkpoint', stage: this.id, step: 1, path: saved.path });
        }
        return { policy, summary: { 'adapter/removed': adapter ? 1 : 0 }, result: { removed: adapter?.name ?? null } };
      },
    });
  }
}

export const removeAdapterStageFactory: StageFactory<typeof RemoveAdapterStageConfigSchema> = {
  kind: 'remove-adapter',
  schema: RemoveAdapterStageConfigSchema,
  create: (id, config) => new RemoveAdapterStage(id, config),
};
