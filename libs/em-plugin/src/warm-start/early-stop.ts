import { z } from 'zod';
import type { HookResult, StepInfo, TrainerHooks } from '@emrl/rl-grpo';
import { majorityAnswer } from '../shared/answer-entropy';

/**
 * Label-free early stopping against EM over-confidence (arXiv 2505.20282 names it an open
 * problem: the EM loss keeps falling while accuracy peaks near step 10, then declines).
 * Criteria are fed per-step signals measured on held-out UNLABELED prompts, keyed by metric
 * name (default 'heldout/agreement', 'heldout/entropy', 'heldout/skewness'). A missing signal at
 * a step is skipped (signals may be measured every few steps); a step fed twice is ignored.
 */

export type EarlyStopSignals = Readonly<Record<string, number | undefined>>;

export interface StopDecision {
  criterion: string;
  /** Step at which the stop fired. */
  step: number;
  /** The step the criterion considers best (checkpoint to keep). */
  bestStep: number;
  reason: string;
}

export interface StopCriterion {
  readonly name: string;
  readonly signal: string;
  /** Called with each new step's value of `signal`; returns a decision when it fires. */
  update(step: number, value: number): StopDecision | null;
}

/**
 * Answer agreement / maj@k consistency: stop when it has not improved by more than minDelta
 * for `patience` consecutive measurements; best = the step of the highest value.
 */
export class AgreementPlateau implements StopCriterion {
  readonly name = 'agreement';
  private best = -Infinity;
  private bestStep = -1;
  private since = 0;
  constructor(
    readonly opts: { patience: number; minDelta: number },
    readonly signal = 'heldout/agreement',
  ) {}

  update(step: number, value: number): StopDecision | null {
    if (value > this.best + this.opts.minDelta || this.bestStep < 0) {
      this.best = value;
      this.bestStep = step;
      this.since = 0;
      return null;
    }
    this.since += 1;
    if (this.since < this.opts.patience) return null;
    return {
      criterion: this.name,
      step,
      bestStep: this.bestStep,
      reason: `${this.signal} did not improve by more than ${this.opts.minDelta} for ${this.since} measurements (best ${this.best.toFixed(4)} at step ${this.bestStep})`,
    };
  }
}

/**
 * Entropy-drop plateau: the relative drop (H_prev - H) / |H_prev| stayed below `threshold` for
 * `patience` consecutive steps; best = the step where the plateau began.
 */
export class EntropyPlateau implements StopCriterion {
  readonly name = 'entropy-plateau';
  private prev: { step: number; value: number } | null = null;
  private count = 0;
  private start = -1;
  constructor(
    readonly opts: { threshold: number; patience: number },
    readonly signal = 'heldout/entropy',
  ) {}

  update(step: number, value: number): StopDecision | null {
    const prev = this.prev;
    this.prev = { step, value };
    if (!prev) return null;
    const drop = (prev.value - value) / Math.max(Math.abs(prev.value), 1e-12);
    if (drop >= this.opts.threshold) {
      this.count = 0;
      return null;
    }
    if (this.count === 0) this.start = prev.step;
    this.count += 1;
    if (this.count < this.opts.patience) return null;
    return {
      criterion: this.name,
      step,
      bestStep: this.start,
      reason: `${this.signal} relative drop stayed below ${this.opts.threshold} for ${this.count} step(s) (last drop ${drop.toFixed(4)}; plateau from step ${this.start})`,
    };
  }
}

/** Logit-skewness jump: |skew_t - skew_prev| > threshold; best = the step before the jump. */
export class SkewnessJump implements StopCriterion {
  readonly name = 'skewness-jump';
  private prev: { step: number; value: number } | null = null;
  constructor(
    readonly opts: { threshold: number },
    readonly signal = 'heldout/skewness',
  ) {}

  update(step: number, value: number): StopDecision | null {
    const prev = this.prev;
    this.prev = { step, value };
    if (!prev) return null;
    const delta = value - prev.value;
    if (Math.abs(delta) <= this.opts.threshold) return null;
    return {
      criterion: this.name,
      step,
      bestStep: prev.step,
      reason: `${this.signal} jumped by ${delta.toFixed(4)} (|delta| > ${this.opts.threshold}) between steps ${prev.step} and ${step}`,
    };
  }
}

const d = (description: string) => ({ description });
const patience = z.number().int().positive().default(2).meta(d('Measurements without progress before stopping.'));

/**
 * The one early-stopping vocabulary of emrl (the EM stage's `earlyStop.signal` names the same
 * criteria with the same options and defaults): agreement (maj@k consistency stops improving by
 * minDelta), entropy-plateau (the relative entropy drop stays below minDelta), skewness-jump
 * (|change| of skewness above minDelta).
 */
export const EarlyStopCriterionSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('agreement'),
      patience,
      minDelta: z.number().min(0).default(0).meta(d('Smallest improvement of the signal that counts.')),
      signal: z.string().default('heldout/agreement'),
    })
    .strict(),
  z
    .object({
      type: z.literal('entropy-plateau'),
      patience,
      minDelta: z.number().min(0).default(0.01).meta(d('Smallest relative drop of the signal that counts as progress.')),
      signal: z.string().default('heldout/entropy'),
    })
    .strict(),
  z
    .object({
      type: z.literal('skewness-jump'),
      minDelta: z.number().min(0).default(0.5).meta(d('|change| between two measurements that counts as a jump.')),
      signal: z.string().default('heldout/skewness'),
    })
    .strict(),
]);
/** Criterion names, as `earlyStop.signal` of the EM stage takes them. */
export const EARLY_STOP_CRITERIA = ['agreement', 'entropy-plateau', 'skewness-jump'] as const;
export type EarlyStopCriterionConfig = z.infer<typeof EarlyStopCriterionSchema>;

export const EarlyStopConfigSchema = z.object({
  /** Never stop before this step (criteria still see every signal). */
  minSteps: z.number().int().min(0).default(0),
  criteria: z.array(EarlyStopCriterionSchema).min(1),
});
export type EarlyStopConfig = z.infer<typeof EarlyStopConfigSchema>;

export function createCriterion(c: EarlyStopCriterionConfig): StopCriterion {
  switch (c.type) {
    case 'agreement':
      return new AgreementPlateau({ patience: c.patience, minDelta: c.minDelta }, c.signal);
    case 'entropy-plateau':
      return new EntropyPlateau({ threshold: c.minDelta, patience: c.patience }, c.signal);
    case 'skewness-jump':
      return new SkewnessJump({ threshold: c.minDelta }, c.signal);
  }
}

/** Runs several criteria; the first that fires (in config order) stops. The decision is sticky. */
export class EarlyStopper {
  readonly criteria: StopCriterion[];
  readonly minSteps: number;
  private lastStep = -Infinity;
  private decided: StopDecision | null = null;

  constructor(config: z.input<typeof EarlyStopConfigSchema> | { criteria: StopCriterion[]; minSteps?: number }) {
    const first = config.criteria[0];
    if (first && 'update' in first) {
      this.criteria = config.criteria as StopCriterion[];
      this.minSteps = config.minSteps ?? 0;
    } else {
      const parsed = EarlyStopConfigSchema.parse(config);
      this.criteria = parsed.criteria.map(createCriterion);
      this.minSteps = parsed.minSteps;
    }
    if (this.criteria.length === 0) throw new Error('em-plugin early-stop.ts: EarlyStopper needs at least one criterion in `criteria`');
  }

  get decision(): StopDecision | null {
    return this.decided;
  }

  update(step: number, signals: EarlyStopSignals): StopDecision | null {
    if (this.decided) return this.decided;
    if (step <= this.lastStep) return null;
    this.lastStep = step;
    let fired: StopDecision | null = null;
    for (const c of this.criteria) {
      const v = signals[c.signal];
      if (v === undefined || !Number.isFinite(v)) continue;
      const d = c.update(step, v);
      if (d && !fired) fired = d;
    }
    if (fired && step >= this.minSteps) this.decided = fired;
    return this.decided;
  }
}

const HookHistorySchema = z.object({
  history: z.array(z.object({ step: z.number().int().min(0), signals: z.record(z.string(), z.number().nullable()) })),
});

/**
 * TrainerHooks that feed `info.metrics` (or the signals `signalsFrom` extracts) to the stopper
 * after each step and after each evaluation, and ask the host loop to stop with the reason. The
 * signals seen so far are the hooks' checkpoint state: on resume they are replayed into the (fresh)
 * stopper, so a resumed run stops where an uninterrupted one would.
 */
export function earlyStopHooks(stopper: EarlyStopper, signalsFrom: (info: StepInfo) => EarlyStopSignals = (info) => info.metrics): TrainerHooks {
  const history: { step: number; signals: Record<string, number> }[] = [];
  const feed = (step: number, signals: EarlyStopSignals): StopDecision | null => {
    const kept: Record<string, number> = {};
    for (const [k, v] of Object.entries(signals)) if (v !== undefined) kept[k] = v;
    history.push({ step, signals: kept });
    return stopper.update(step, kept);
  };
  const check = (info: StepInfo): HookResult => {
    const d = feed(info.step, signalsFrom(info));
    return d ? { stop: true, reason: `early-stop/${d.criterion}: ${d.reason}; best step ${d.bestStep}` } : undefined;
  };
  return {
    afterStep: check,
    afterEval: check,
    state: () => ({ history }),
    loadState: (state) => {
      const parsed = HookHistorySchema.safeParse(state);
      if (!parsed.success) throw new Error(`earlyStopHooks: bad saved state in the checkpoint: ${z.prettifyError(parsed.error)}`);
      // JSON turns NaN into null; give it back as NaN.
      for (const h of parsed.data.history) feed(h.step, Object.fromEntries(Object.entries(h.signals).map(([k, v]) => [k, v ?? Number.NaN])));
    },
  };
}

/**
 * maj@k consistency on held-out prompts: the mean over prompts of the majority answer's share of
 * that prompt's k answers (nulls count as disagreement). 1 = every prompt fully consistent.
 */
export function heldOutAgreement(groups: readonly (readonly (string | null)[])[]): number {
  if (groups.length === 0) return 0;
  return groups.reduce((acc, g) => acc + (majorityAnswer(g)?.share ?? 0), 0) / groups.length;
}
