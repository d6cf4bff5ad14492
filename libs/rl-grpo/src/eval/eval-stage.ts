import type { Observable } from 'rxjs';
import { EvalConfigSchema, evaluate, type EvalConfig } from './evaluate';
import type { Stage, StageContext, StageEvent, StageFactory } from '../stage-kit/stage';
import { oneShotStage } from '../stage-kit/stage-loop';

/** Evaluation as a stage: accuracy by temperature, pass@k, maj@k, calibration. Leaves the policy unchanged. */
export class EvalStage implements Stage<EvalConfig> {
  readonly kind = 'eval';
  constructor(
    readonly id: string,
    readonly config: EvalConfig,
  ) {}

  run(ctx: StageContext): Observable<StageEvent> {
    const total = this.config.temperatures.length;
    return oneShotStage({
      stage: this.id,
      kind: this.kind,
      totalSteps: total,
      run: async (emit) => {
        const t0 = performance.now();
        const result = await evaluate(ctx.policy, ctx.task, this.config, {
          seed: ctx.seed,
          onProgress: (done, all) =>
            emit({
              type: 'progress',
              stage: this.id,
              step: Math.round((done / all) * total),
              totalSteps: total,
              etaSec: ((performance.now() - t0) / 1000 / done) * (all - done),
            }),
        });
        const summary: Record<string, number> = {};
        for (const r of result.byTemperature) {
          summary[`eval/accuracy@t${r.temperature}`] = r.accuracy;
          summary[`eval/maj_at_k@t${r.temperature}`] = r.majAtK;
        }
        emit({ type: 'metrics', stage: this.id, step: total, metrics: summary });
        return { policy: ctx.policy, summary, result };
      },
    });
  }
}

export const evalStageFactory: StageFactory<typeof EvalConfigSchema> = {
  kind: 'eval',
  schema: EvalConfigSchema,
  create: (id, config) => new EvalStage(id, config),
};
