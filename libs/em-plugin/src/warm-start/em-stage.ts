import * as tf from '@tensorflow/tfjs-core';
import type { Observable } from 'rxjs';
import { z } from 'zod';
import { AdamW, clipGlobalNorm, packBatchArrays, toPackedBatch } from '@emrl/lm';
import {
  evaluate,
  checkpointDue,
  resumeFromCheckpoint,
  sampleGroups,
  saveTrainingCheckpoint,
  stepLoop,
  streamSeed,
  type Stage,
  type StageContext,
  type StageEvent,
  type StageFactory,
  type TaskExample,
  type TemperatureResult,
} from '@emrl/rl-grpo';
import { answerEntropy, majorityAnswer } from '../shared/answer-entropy';
import { AgreementPlateau, EarlyStopper, EntropyPlateau, SkewnessJump, type StopCriterion, type StopDecision } from './early-stop';
import { HELDOUT_SKEWNESS_SCOPE, measureHeldOutSignals, type HeldOutSignals } from './heldout-signals';
import { tokenEntropyLoss } from '../shared/losses';
import type { SelectionResult } from './selection';
import { WeightSnapshots } from './weight-snapshots';

const d = (description: string) => ({ description });

export const EmPromptSourceSchema = z.union([
  z.literal('selected').meta(d('The prompt(s) chosen by an earlier select stage.')),
  z.object({ text: z.array(z.string().min(1)).min(1) }).strict().meta(d('Explicit prompt texts.')),
  z.object({ split: z.enum(['train', 'test', 'probe']), count: z.number().int().positive().default(1) }).strict(),
]);

export const EM_EARLY_STOP_SIGNALS = ['agreement', 'entropy-plateau', 'skewness-jump'] as const;

/** Default minDelta per signal (see the field's description). */
export const EM_EARLY_STOP_MIN_DELTA: Record<(typeof EM_EARLY_STOP_SIGNALS)[number], number> = {
  agreement: 0,
  'entropy-plateau': 0.01,
  'skewness-jump': 0.5,
};

/**
 * Label-free early stopping of the EM stage (one-shot EM, arXiv 2505.20282, leaves over-confidence
 * open: the loss keeps falling after accuracy peaks). Signals are measured on held-out UNLABELED
 * prompts after every `every`-th step (heldout-signals.ts) and before the first one (step 0).
 */
export const EmEarlyStopConfigSchema = z
  .object({
    signal: z.enum(EM_EARLY_STOP_SIGNALS).default('agreement').meta(
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
    temperature: z.number().positive().default(0.5).meta(d('Entropy temperature tau: H of softmax(z / tau).')),
    pooling: z.enum(['token-mean', 'sequence-mean']).default('token-mean'),
    lastFraction: z.number().gt(0).max(1).optional().meta(d('Count only the last fraction of each response (RENT, arXiv 2505.22660).')),
    lr: z.number().positive().default(1e-4),
    weightDecay: z.number().min(0).default(0.01),
    gradClip: z.number().min(0).default(1),
    maxNewTokens: z.number().int().positive().optional(),
    checkpointEvery: z.number().int().min(0).default(0).meta(d('Save every N steps (0: only at the end).')),
    logEvery: z.number().int().positive().default(1),
    earlyStop: EmEarlyStopConfigSchema.optional().meta(d('Label-free early stopping on held-out unlabeled prompts (off when absent).')),
    evalEvery: z.number().int().min(0).default(0).meta(
      d(
        "Measure greedy accuracy on the task's TEST split (metric eval_accuracy) before the first step and after every N-th step (and the last); 0 = off. " +
          'A MEASUREMENT ONLY: the test labels are never seen by the EM loss or the early stopper.',
      ),
    ),
    evalLimit: z.number().int().positive().default(100).meta(d('eval_accuracy uses the first N prompts of the test split.')),
  })
  .strict();
export type EmStageConfig = z.infer<typeof EmStageConfigSchema>;

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

/** The criterion for an EM early-stop config (signals named as heldout-signals.ts emits them). */
export function emStopCriterion(c: EmEarlyStopConfig): StopCriterion {
  const minDelta = c.minDelta ?? EM_EARLY_STOP_MIN_DELTA[c.signal];
  switch (c.signal) {
    case 'agreement':
      return new AgreementPlateau({ patience: c.patience, minDelta }, 'heldout/agreement');
    case 'entropy-plateau':
      return new EntropyPlateau({ threshold: minDelta, patience: c.patience }, 'heldout/entropy');
    case 'skewness-jump':
      return new SkewnessJump({ threshold: minDelta }, 'heldout/skewness');
  }
}

/** Greedy test accuracy of the policy (labels used for this measurement only), with the task's diagnostics. */
async function measureTestAccuracy(c: EmStageConfig, ctx: StageContext, stageId: string): Promise<Record<string, number>> {
  const r = await evaluate(
    ctx.policy,
    ctx.task,
    { temperatures: [0], split: 'test', limit: c.evalLimit, ...(c.maxNewTokens ? { maxNewTokens: c.maxNewTokens } : {}) },
    { seed: streamSeed(ctx.seed, stageId, 'eval') },
  );
  const t: TemperatureResult = r.byTemperature[0]!;
  const out: Record<string, number> = { eval_accuracy: t.accuracy, eval_format_failure_rate: t.formatFailureRate };
  for (const [k, v] of Object.entries(t.extra)) out[`eval_${k}`] = v;
  return out;
}

/** Early-stop state saved in checkpoints (trainer-state.json `extra.earlyStop`) so a resume replays it. */
const EarlyStopStateSchema = z.object({
  history: z.array(z.object({ step: z.number().int().min(0), signals: z.record(z.string(), z.number()) })),
  responses: z.array(z.array(z.number().int())),
});
type EarlyStopState = z.infer<typeof EarlyStopStateSchema>;

/** Held-out measurement, stopper and (optionally) best-weight snapshots of one EM stage run. */
class EmEarlyStopRun {
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
      `(skewness scope ${HELDOUT_SKEWNESS_SCOPE} on fixed responses; entropy at tau ${this.stage.temperature})`
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
      temperature: this.stage.temperature,
      maxNewTokens: this.stage.maxNewTokens ?? this.ctx.task.maxCompletionLength,
      seed: streamSeed(this.ctx.seed, this.stageId, 'heldout'),
      fixedResponses: this.responses ?? undefined,
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

/** The EM warm-start stage: on-policy rollouts of the chosen prompt(s), minimize their token entropy. */
export class EmStage implements Stage<EmStageConfig> {
  readonly kind = 'em';
  constructor(
    readonly id: string,
    readonly config: EmStageConfig,
  ) {}

  run(ctx: StageContext): Observable<StageEvent> {
    const c = this.config;
    let optimizer: AdamW | null = null;
    let prompts: TaskExample[] = [];
    let last: Record<string, number> = {};
    let early: EmEarlyStopRun | null = null;
    let decision: StopDecision | null = null;
    const evaluations: { step: number; metrics: Record<string, number> }[] = [];
    const policy = ctx.policy;
    return stepLoop({
      stage: this.id,
      kind: this.kind,
      totalSteps: c.steps,
      logEvery: c.logEvery,
      setup: async () => {
        prompts = resolveEmPrompts(c, ctx, this.id);
        optimizer = new AdamW({ lr: c.lr, weightDecay: c.weightDecay, gradClip: 0 }, { variables: policy.model.weights });
        early = c.earlyStop ? new EmEarlyStopRun(c.earlyStop, c, ctx, this.id) : null;
        const logs = [`EM on ${prompts.length} prompt(s): ${prompts.map((p) => JSON.stringify(p.prompt)).join(', ')}`];
        if (early) logs.push(early.describe());
        const resumed = await resumeFromCheckpoint(ctx, policy, (s) => optimizer!.loadState(s));
        if (resumed) {
          const { state, log } = resumed;
          logs.push(log);
          if (early) {
            decision = early.replay(state.extra['earlyStop'] ?? { history: [], responses: [] });
            if (early.history.length === 0) await early.measure(state.step);
            if (decision) {
              logs.push(`already stopped early at step ${decision.step}: ${decision.reason}`);
              return { startStep: c.steps, logs };
            }
          }
          return { startStep: state.step, logs };
        }
        if (early) {
          const { signals } = await early.measure(0);
          logs.push(`held-out signals before EM: ${Object.entries(signals).map(([k, v]) => `${k} = ${v.toFixed(4)}`).join(', ')}`);
        }
        if (c.evalEvery > 0) {
          const metrics = await measureTestAccuracy(c, ctx, this.id);
          evaluations.push({ step: 0, metrics });
          logs.push(`test accuracy before EM (greedy, first ${c.evalLimit} test prompts; measurement only): ${metrics['eval_accuracy']!.toFixed(4)}`);
        }
        return { startStep: 0, logs };
      },
      step: async (step) => {
        const t0 = performance.now();
        const r = await sampleGroups(policy, ctx.task, prompts, c.rollouts, {
          temperature: c.sampleTemperature,
          topP: c.topP,
          topK: 0,
          maxNewTokens: c.maxNewTokens ?? ctx.task.maxCompletionLength,
          seed: streamSeed(ctx.seed, this.id, step, 'sample'),
        });
        const tGen = performance.now();
        const packed = packBatchArrays(r.promptIds, r.completionIds, policy.tokenizer.padTokenId);
        // The model's weights only: a logits adapter (compression layer), if attached, stays frozen.
        const vars = policy.model.trainableVariables({ includeAdapter: false });
        const { value, grads } = tf.variableGrads(() => {
          const b = toPackedBatch(packed);
          const logits = policy.model.forward(b.inputIds, { attentionMask: b.attentionMask }); // [B, T, V]
          return tokenEntropyLoss({ logits, lossMask: b.lossMask, temperature: c.temperature, pooling: c.pooling, lastFraction: c.lastFraction });
        }, vars);
        const loss = (await value.data())[0]!;
        value.dispose();
        const clipped = clipGlobalNorm(grads, c.gradClip > 0 ? c.gradClip : Infinity);
        optimizer!.applyGradients(clipped.grads, c.lr);
        for (const g of Object.values(grads)) g.dispose();
        if (clipped.grads !== grads) for (const g of Object.values(clipped.grads)) g.dispose();
        const answers = r.completions.map((comp) => ctx.task.extractAnswer(comp));
        const lengths = r.completionIds.map((t) => t.length);
        const maj = majorityAnswer(answers);
        const tTrain = performance.now();
        last = {
          loss,
          'em/entropy': loss,
          grad_norm: clipped.norm,
          learning_rate: c.lr,
          'em/answer_entropy': answerEntropy(answers),
          'em/majority_share': maj ? maj.share : 0,
          'completions/mean_length': lengths.reduce((a, b) => a + b, 0) / lengths.length,
          'completions/clipped_ratio': r.truncated.filter(Boolean).length / r.truncated.length,
          'perf/generation_time': (tGen - t0) / 1000,
          'perf/tokens_per_sec': (packed.batchSize * packed.seqLen * 2) / ((tTrain - t0) / 1000),
        };
        let stop: { reason: string } | undefined;
        let fired: StopDecision | null = null;
        if (early?.shouldMeasure(step)) {
          const m = await early.measure(step + 1);
          Object.assign(last, m.signals);
          fired = m.decision;
        }
        // Test accuracy of this step's weights (before a restoreBest swaps them); never fed to the stopper.
        if (c.evalEvery > 0 && ((step + 1) % c.evalEvery === 0 || step === c.steps - 1 || fired)) {
          const tEval = performance.now();
          const metrics = await measureTestAccuracy(c, ctx, this.id);
          evaluations.push({ step: step + 1, metrics });
          Object.assign(last, metrics);
          last['perf/eval_time'] = (performance.now() - tEval) / 1000;
        }
        if (fired && early) {
          decision = fired;
          last['early_stop/best_step'] = fired.bestStep;
          const note = early.restore(fired);
          stop = { reason: `early-stop/${fired.criterion}: ${fired.reason}; best step ${fired.bestStep}${note}` };
          const atBest = early.restoredStep === fired.bestStep ? evaluations.find((e) => e.step === fired.bestStep) : undefined;
          if (atBest) last['eval_accuracy/restored'] = atBest.metrics['eval_accuracy']!;
        }
        last['perf/step_time'] = (performance.now() - t0) / 1000;
        return stop ? { metrics: last, stop } : { metrics: last };
      },
      checkpoint: async (step, isLast) => {
        if (!ctx.checkpointDir) return null;
        if (!checkpointDue(step, isLast, c.checkpointEvery)) return null;
        const saved = await saveTrainingCheckpoint(ctx.checkpointDir, {
          step: step + 1,
          policy,
          optimizerState: optimizer!.state(),
          extra: early ? { earlyStop: early.state() } : {},
        });
        return saved.path;
      },
      finish: async (stopped) => {
        const summary = { ...last };
        if (decision) {
          summary['early_stop/step'] = stopped?.step ?? decision.step;
          summary['early_stop/best_step'] = decision.bestStep;
        }
        return {
          policy: { ...policy, name: `${policy.name}>${this.id}` },
          summary,
          result: {
            prompts: prompts.map((p) => ({ id: p.id, prompt: p.prompt })),
            ...(c.evalEvery > 0 ? { evaluations } : {}),
            ...(early
              ? {
                  earlyStop: {
                    signal: early.config.signal,
                    skewnessScope: HELDOUT_SKEWNESS_SCOPE,
                    decision,
                    restoredStep: early.restoredStep,
                    history: early.history,
                  },
                }
              : {}),
          },
        };
      },
      teardown: () => {
        optimizer?.dispose();
        optimizer = null;
        early?.dispose();
        early = null;
      },
    });
  }
}

export const emStageFactory: StageFactory<typeof EmStageConfigSchema> = {
  kind: 'em',
  schema: EmStageConfigSchema,
  create: (id, config) => new EmStage(id, config),
};
