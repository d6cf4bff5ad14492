import * as tf from '@tensorflow/tfjs-core';
import { maskedMean, type CausalLM, type ForwardOptions, type LoraAdapter, type PackedArrays } from '@emrl/lm';
import { logProbsOnThisThread, type LossTermInput, type LossTermOutput, type LossTermPlugin, type LossTermPrepareInput } from '../stage-kit/plugin';
import { grpoLoss, stopGradient, type GrpoLossType, type ImportanceLevel } from './loss';

export interface GrpoPolicyTermOptions {
  /** The policy being trained (its log-probs before the first update are the "old" ones). */
  model: CausalLM;
  epsLow: number;
  epsHigh: number;
  /** k3 KL coefficient to a frozen reference: the policy as it enters the term (TRL's initial model); 0 = none. */
  beta: number;
  importanceLevel: ImportanceLevel;
  lossType: GrpoLossType;
  maxCompletionLength: number;
  /** mu > 1 needs the old log-probs as constants; with mu = 1 the ratio is 1 in value. */
  iterations: number;
  /**
   * True when the stage attached the model's LoRA adapter itself: the reference (the model as it
   * entered the stage) is then the base without the adapter. False with an adapter the policy
   * entered with: the reference is base + a frozen copy of that adapter.
   */
  loraAttachedByStage?: boolean;
}

/**
 * The frozen KL reference, as cheap as it can be: with LoRA, the policy's own base weights (the
 * adapter disabled, PEFT's disable_adapter()) or a frozen copy of just the adapter; else a copy of
 * the model.
 */
type Reference = { kind: 'copy'; model: CausalLM } | { kind: 'base' } | { kind: 'adapter'; adapter: LoraAdapter };

function frozenReference(model: CausalLM, loraAttachedByStage: boolean): Reference {
  const lora = model.getLora();
  if (!lora) return { kind: 'copy', model: model.clone() };
  if (loraAttachedByStage) return { kind: 'base' };
  const adapter = lora.clone();
  for (const v of adapter.variables()) v.trainable = false;
  return { kind: 'adapter', adapter };
}

/**
 * GRPO's clipped policy loss (DeepSeekMath, arXiv 2402.03300; TRL's GRPOTrainer and verl) as a loss
 * term: per-token (or GSPO sequence-level) importance ratios against the pre-update policy,
 * clipped with epsLow / epsHigh, optional k3 KL to the frozen reference, aggregated by lossType.
 * Metrics keep TRL's names (kl, clip_ratio/low_mean, ...), reported bare.
 */
export class GrpoPolicyTerm implements LossTermPlugin {
  readonly name = 'grpo-policy';
  readonly metricPrefix = '';
  private reference: Reference | null;
  private oldLogprobs: tf.Tensor2D[] | null = null;
  private refLogprobs: tf.Tensor2D[] | null = null;

  constructor(private readonly o: GrpoPolicyTermOptions) {
    this.reference = o.beta > 0 ? frozenReference(o.model, o.loraAttachedByStage ?? false) : null;
  }

  /** Old (mu > 1) and reference (beta > 0) log-probs of each micro-batch, before any update. */
  async prepare(input: LossTermPrepareInput): Promise<void> {
    const logprobsOf = (model: CausalLM, a: PackedArrays, forward: ForwardOptions = {}): Promise<tf.Tensor2D> =>
      input.logProbsOf ? input.logProbsOf(model, a, forward) : Promise.resolve(logProbsOnThisThread(model, a, input.temperature, forward, input.logitsBudgetBytes)); // [b, T]
    const ref = this.reference;
    const refOf = (a: PackedArrays): Promise<tf.Tensor2D> => {
      if (ref!.kind === 'copy') return logprobsOf(ref!.model, a);
      return logprobsOf(this.o.model, a, ref!.kind === 'base' ? { disableLora: true } : { lora: ref!.adapter });
    };
    const old: tf.Tensor2D[] = [];
    const refs: tf.Tensor2D[] = [];
    try {
      if (this.o.iterations > 1) for (const p of input.microBatches) old.push(await logprobsOf(this.o.model, p));
      if (ref) for (const p of input.microBatches) refs.push(await refOf(p));
    } catch (e) {
      tf.dispose([...old, ...refs]);
      throw e;
    }
    this.oldLogprobs = this.o.iterations > 1 ? old : null;
    this.refLogprobs = ref ? refs : null;
  }

  compute(input: LossTermInput): LossTermOutput {
    const o = this.o;
    if (!input.advantages) throw new Error('grpo-policy term: the sampler gave no advantages; use it with the GRPO group sampler');
    const m = input.microBatch;
    const logprobs = input.logprobs;
    const out = grpoLoss({
      logprobs,
      oldLogprobs: this.oldLogprobs ? this.oldLogprobs[m]! : stopGradient(logprobs),
      refLogprobs: this.refLogprobs ? this.refLogprobs[m]! : undefined,
      advantages: input.advantages,
      mask: input.lossMask,
      epsLow: o.epsLow,
      epsHigh: o.epsHigh,
      beta: o.beta,
      importanceLevel: o.importanceLevel,
      lossType: o.lossType,
      maxCompletionLength: o.maxCompletionLength,
    });
    return {
      loss: out.loss,
      coef: 1,
      // bnpo is a token mean over the batch; grpo and dr_grpo are means over sequences.
      normalizer: o.lossType === 'bnpo' ? 'tokens' : 'sequences',
      metrics: {
        policy_loss: out.loss,
        entropy: maskedMean(input.entropy, input.lossMask) as tf.Scalar,
        kl: out.metrics.kl,
        'clip_ratio/low_mean': out.metrics.clipRatioLow,
        'clip_ratio/high_mean': out.metrics.clipRatioHigh,
        'clip_ratio/region_mean': out.metrics.clipRatioRegion,
        'ratio/mean': out.metrics.ratioMean,
      },
    };
  }

  release(): void {
    this.oldLogprobs?.forEach((t) => t.dispose());
    this.refLogprobs?.forEach((t) => t.dispose());
    this.oldLogprobs = null;
    this.refLogprobs = null;
  }

  dispose(): void {
    this.release();
    if (this.reference?.kind === 'copy') this.reference.model.dispose();
    if (this.reference?.kind === 'adapter') this.reference.adapter.dispose();
    this.reference = null;
  }
}
