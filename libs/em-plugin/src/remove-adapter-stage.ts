import { Observable } from 'rxjs';
import { z } from 'zod';
import { saveTrainingCheckpoint, type Stage, type StageContext, type StageEvent, type StageFactory } from '@emrl/rl-grpo';

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
    return new Observable<StageEvent>((subscriber) => {
      let cancelled = false;
      subscriber.next({ type: 'started', stage: this.id, kind: this.kind, totalSteps: 1, time: Date.now() });
      (async () => {
        const adapter = ctx.policy.model.getLogitsAdapter();
        ctx.policy.model.setLogitsAdapter(null);
        const policy = { ...ctx.policy, name: `${ctx.policy.name}>${this.id}` };
        const message = adapter ? `removed logits adapter "${adapter.name}"` : 'the policy had no logits adapter; nothing removed';
        subscriber.next({ type: 'log', stage: this.id, level: adapter ? 'info' : 'warn', message });
        if (ctx.checkpointDir) {
          const saved = await saveTrainingCheckpoint(ctx.checkpointDir, { step: 1, policy });
          if (!cancelled) subscriber.next({ type: 'checkpoint', stage: this.id, step: 1, path: saved.path });
        }
        if (cancelled) return;
        subscriber.next({ type: 'finished', stage: this.id, policy, summary: { 'adapter/removed': adapter ? 1 : 0 }, result: { removed: adapter?.name ?? null } });
        subscriber.complete();
      })().catch((e: unknown) => {
        if (!cancelled) subscriber.error(e);
      });
      return () => {
        cancelled = true;
      };
    });
  }
}

export const removeAdapterStageFactory: StageFactory<typeof RemoveAdapterStageConfigSchema> = {
  kind: 'remove-adapter',
  schema: RemoveAdapterStageConfigSchema,
  create: (id, config) => new RemoveAdapterStage(id, config),
};
