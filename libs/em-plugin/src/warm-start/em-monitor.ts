import { greedyTestMetrics, streamSeed, type AfterStepInfo, type HookResult, type StageContext, type TrainerHooks } from '@emrl/rl-grpo';
import { HELDOUT_SKEWNESS_SCOPE } from './heldout-signals';
import { EmEarlyStopRun } from './em-early-stop-run';
import type { EmStageConfig } from './em-stage-config';
import type { StopDecision } from './early-stop';

/**
 * The EM warm start's hooks: label-free early stopping on held-out unlabeled prompts (measured
 * before step 1 and after every `every`-th step; restoreBest swaps in the best step's weights) and
 * eval-every (greedy test accuracy before step 1, every N steps, at the last step and where a stop
 * fires; a measurement only, never fed to the stopper).
 */
export class EmMonitorHooks implements TrainerHooks {
  private readonly early: EmEarlyStopRun | null;
  private decision: StopDecision | null = null;
  private readonly evaluations: { step: number; metrics: Record<string, number> }[] = [];

  constructor(
    private readonly c: EmStageConfig,
    private readonly ctx: StageContext,
    private readonly stageId: string,
  ) {
    this.early = c.earlyStop ? new EmEarlyStopRun(c.earlyStop, c, ctx, stageId) : null;
  }

  describe(): string[] {
    return this.early ? [this.early.describe()] : [];
  }

  private async testMetrics(): Promise<Record<string, number>> {
    const c = this.c;
    return greedyTestMetrics(this.ctx.policy, this.ctx.task, { limit: c.evalLimit, maxNewTokens: c.maxNewTokens, seed: streamSeed(this.ctx.seed, this.stageId, 'eval') });
  }

  async onStart(): Promise<string[]> {
    const logs: string[] = [];
    if (this.early) {
      const { signals } = await this.early.measure(0);
      logs.push(`held-out signals before EM: ${Object.entries(signals).map(([k, v]) => `${k} = ${v.toFixed(4)}`).join(', ')}`);
    }
    if (this.c.evalEvery > 0) {
      const metrics = await this.testMetrics();
      this.evaluations.push({ step: 0, metrics });
      logs.push(`test accuracy before EM (greedy, first ${this.c.evalLimit} test prompts; measurement only): ${metrics['eval_accuracy']!.toFixed(4)}`);
    }
    return logs;
  }

  async afterStep(info: AfterStepInfo): Promise<HookResult> {
    const { step, metrics } = info;
    const c = this.c;
    let fired: StopDecision | null = null;
    if (this.early?.shouldMeasure(step)) {
      const m = await this.early.measure(step + 1);
      Object.assign(metrics, m.signals);
      fired = m.decision;
    }
    // Test accuracy of this step's weights (before a restoreBest swaps them); never fed to the stopper.
    if (c.evalEvery > 0 && ((step + 1) % c.evalEvery === 0 || step === c.steps - 1 || fired)) {
      const tEval = performance.now();
      const m = await this.testMetrics();
      this.evaluations.push({ step: step + 1, metrics: m });
      Object.assign(metrics, m);
      metrics['perf/eval_time'] = (performance.now() - tEval) / 1000;
    }
    if (!fired || !this.early) return;
    this.decision = fired;
    metrics['early_stop/best_step'] = fired.bestStep;
    const note = this.early.restore(fired);
    const atBest = this.early.restoredStep === fired.bestStep ? this.evaluations.find((e) => e.step === fired.bestStep) : undefined;
    if (atBest) metrics['eval_accuracy/restored'] = atBest.metrics['eval_accuracy']!;
    return { stop: true, reason: `early-stop/${fired.criterion}: ${fired.reason}; best step ${fired.bestStep}${note}` };
  }

  state(): unknown {
    return this.early ? { earlyStop: this.early.state() } : null;
  }

  loadState(saved: unknown): HookResult {
    if (!this.early) return;
    const s = saved as { earlyStop?: unknown } | null;
    this.decision = this.early.replay(s?.earlyStop ?? { history: [], responses: [] });
    if (this.decision) return { stop: true, reason: `early stop at step ${this.decision.step}: ${this.decision.reason}` };
  }

  finish(summary: Record<string, number>, stopped?: { step: number; reason: string }): Record<string, unknown> {
    const early = this.early;
    if (this.decision) {
      summary['early_stop/step'] = stopped?.step ?? this.decision.step;
      summary['early_stop/best_step'] = this.decision.bestStep;
    }
    return {
      ...(this.c.evalEvery > 0 ? { evaluations: this.evaluations } : {}),
      ...(early
        ? { earlyStop: { signal: early.config.signal, skewnessScope: HELDOUT_SKEWNESS_SCOPE, decision: this.decision, restoredStep: early.restoredStep, history: early.history } }
        : {}),
    };
  }

  dispose(): void {
    this.early?.dispose();
  }
}
