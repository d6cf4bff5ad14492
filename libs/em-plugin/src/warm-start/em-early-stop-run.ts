import { z } from 'zod';
import { logitsBudgetBytes, streamSeed, type StageContext, type TaskExample } from '@emrl/rl-grpo';
import { EarlyStopper, type StopDecision } from './early-stop';
import { HELDOUT_SKEWNESS_SCOPE, measureHeldOutSignals, type HeldOutSignals } from './heldout-signals';
import { emEntropyTemperature, emStopCriterion, type EmEarlyStopConfig, type EmStageConfig } from './em-stage-config';
import { WeightSnapshots } from './weight-snapshots';

/** Early-stop state saved in checkpoints (trainer-state.json `extra.earlyStop`) so a resume replays it. */
const EarlyStopStateSchema = z.object({
  history: z.array(z.object({ step: z.number().int().min(0), signals: z.record(z.string(), z.number()) })),
  responses: z.array(z.array(z.number().int())),
});
type EarlyStopState = z.infer<typeof EarlyStopStateSchema>;

/** Held-out measurement, stopper and (optionally) best-weight snapshots of one EM stage run. */
export class EmEarlyStopRun {
  readonly stopper: EarlyStopper;
  readonly history: EarlyStopState['history'] = [];
  responses: number[][] | null = null;
  readonly snapshots: WeightSnapshots | null;
  private readonly examples: TaskExample[];
  private bestAgreement: { step: number; value: number } | null = null;
  restoredStep: number | null = null;

  constructor(
    readonly config: EmEarlyStopConfig,
    private readonly stage: EmStageConfig,
    private readonly ctx: StageContext,
    private readonly stageId: string,
  ) {
    this.stopper = new EarlyStopper({ criteria: [emStopCriterion(config)], minSteps: config.minSteps });
    this.examples = ctx.task.split(config.split).slice(0, config.heldOut);
    if (this.examples.length === 0) {
      throw new Error(`stage "${stageId}": earlyStop.split "${config.split}" of task "${ctx.task.name}" has no prompts; pick another earlyStop.split`);
    }
    this.snapshots = config.restoreBest ? new WeightSnapshots() : null;
  }

  describe(): string {
    return (
      `early stop on ${this.config.signal} over ${this.examples.length} held-out ${this.config.split} prompt(s) x ${this.config.samples} samples ` +
      `(skewness scope ${HELDOUT_SKEWNESS_SCOPE} on fixed responses; entropy at tau ${emEntropyTemperature(this.stage)})`
    );
  }

  shouldMeasure(step: number): boolean {
    return (step + 1) % this.config.every === 0 || step === this.stage.steps - 1;
  }

  /** Measures the policy after `completed` steps and feeds the stopper. */
  async measure(completed: number): Promise<{ signals: HeldOutSignals; decision: StopDecision | null }> {
    const c = this.config;
    const m = await measureHeldOutSignals(this.ctx.policy, this.ctx.task, {
      examples: this.examples,
      samples: c.samples,
      sampleTemperature: c.sampleTemperature ?? this.stage.sampleTemperature,
      topP: this.stage.topP,
      temperature: emEntropyTemperature(this.stage),
      maxNewTokens: this.stage.maxNewTokens ?? this.ctx.task.maxCompletionLength,
      seed: streamSeed(this.ctx.seed, this.stageId, 'heldout'),
      fixedResponses: this.responses ?? undefined,
      logitsBudgetBytes: logitsBudgetBytes(this.stage.logitsBudgetMiB),
    });
    this.responses ??= m.responses;
    const decision = this.record(completed, m.signals);
    if (this.snapshots) this.keepSnapshot(completed);
    return { signals: m.signals, decision };
  }

  /** Restores the decision's best step when restoreBest is on; returns a note for the stop reason. */
  restore(decision: StopDecision): string {
    if (!this.snapshots) return '';
    if (this.snapshots.restore(decision.bestStep, this.ctx.policy.model)) {
      this.restoredStep = decision.bestStep;
      return `; restored the weights of step ${decision.bestStep}`;
    }
    return `; restoreBest: the weights of step ${decision.bestStep} were not kept (kept steps ${this.snapshots.steps().join(', ') || 'none'}), final weights kept`;
  }

  state(): EarlyStopState {
    return { history: this.history, responses: this.responses ?? [] };
  }

  /** Replays a saved history (resume); returns the decision it reaches, if any. */
  replay(saved: unknown): StopDecision | null {
    const parsed = EarlyStopStateSchema.safeParse(saved);
    if (!parsed.success) throw new Error(`stage "${this.stageId}": checkpoint extra.earlyStop is malformed (${parsed.error.message}); delete the checkpoint to start the stage over`);
    this.responses = parsed.data.responses.length ? parsed.data.responses : null;
    let decision: StopDecision | null = null;
    for (const h of parsed.data.history) decision = this.record(h.step, h.signals as HeldOutSignals);
    return decision;
  }

  dispose(): void {
    this.snapshots?.dispose();
  }

  private record(completed: number, signals: HeldOutSignals): StopDecision | null {
    this.history.push({ step: completed, signals: { ...signals } });
    const a = signals['heldout/agreement'];
    if (Number.isFinite(a) && (!this.bestAgreement || a > this.bestAgreement.value + (this.config.minDelta ?? 0))) this.bestAgreement = { step: completed, value: a };
    return this.stopper.update(completed, signals);
  }

  /**
   * Every criterion's best step lies within the last patience + 1 measurements when it fires
   * (agreement: the peak `patience` measurements back; entropy-plateau: the step before the
   * plateau; skewness-jump: the previous measurement); the agreement peak is also pinned, in case
   * minSteps held the stop back.
   */
  private keepSnapshot(completed: number): void {
    const snaps = this.snapshots!;
    snaps.take(completed, this.ctx.policy.model);
    const recent = new Set(this.history.slice(-(this.config.patience + 1)).map((h) => h.step));
    const pinned = this.config.signal === 'agreement' ? this.bestAgreement?.step : undefined;
    snaps.retain((s) => recent.has(s) || s === pinned);
  }
}
