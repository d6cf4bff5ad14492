import * as tf from '@tensorflow/tfjs-core';
import {
  AdamW,
  clipGlobalNorm,
  lrAt,
  maskedMean,
  packBatchArrays,
  toPackedBatch,
  tokenLogProbsAndEntropy,
  type CausalLM,
  type LrSchedule,
  type PackedArrays,
} from '@emrl/lm';
import { computeAdvantages } from './advantages';
import { grpoLoss, stopGradient } from './loss';
import type { GrpoConfig } from './grpo-config';
import type { HookResult, LossTermPlugin, TrainerHooks } from '../stage-kit/plugin';
import type { Policy } from '../policy';
import { scoreCompletions, type RewardInput, type ScoredCompletions } from './rewards';
import { sampleGroups, type Rollouts } from './rollout';
import { streamSeed, makeRandom, sampleIndices } from '../seed';
import type { Task, TaskExample } from '../tasks/task';

export interface GrpoTrainerOptions {
  policy: Policy;
  task: Task;
  config: GrpoConfig;
  seed: number;
  plugins?: LossTermPlugin[];
  hooks?: TrainerHooks;
  /** Stage id used to derive random streams and name metrics sources. */
  id?: string;
}

export interface GrpoStepResult {
  metrics: Record<string, number>;
  /** Set when a hook asked to stop after this step. */
  stop?: { reason: string };
  /** True when a beforeStep hook stopped the run before this step did anything. */
  skipped?: boolean;
}

/** The GRPO schedule option in lm's terms (total steps = the stage's steps). */
function toLrSchedule(c: GrpoConfig): LrSchedule {
  return c.schedule.type === 'constant'
    ? { type: 'constant' }
    : { type: 'warmup-cosine', warmupSteps: c.schedule.warmupSteps, totalSteps: Math.max(1, c.steps), minLrRatio: c.schedule.minLrRatio };
}

function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
}

function std(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
}

/** Concatenates rollouts of several sampling rounds (dynamic sampling refills). */
function concatRollouts(parts: Rollouts[]): Rollouts {
  let offset = 0;
  const out: Rollouts = {
    examples: [], groupIndex: [], promptIds: [], completionIds: [], completions: [], truncated: [], samplingLogprobs: [], numGeneratedTokens: 0,
  };
  for (const r of parts) {
    const groups = r.groupIndex.length ? Math.max(...r.groupIndex) + 1 : 0;
    out.examples.push(...r.examples);
    out.groupIndex.push(...r.groupIndex.map((g) => g + offset));
    out.promptIds.push(...r.promptIds);
    out.completionIds.push(...r.completionIds);
    out.completions.push(...r.completions);
    out.truncated.push(...r.truncated);
    out.samplingLogprobs.push(...r.samplingLogprobs);
    out.numGeneratedTokens += r.numGeneratedTokens;
    offset += groups;
  }
  return out;
}

/** Keeps only the listed groups (in order), renumbering them 0..n-1. */
function selectGroups(r: Rollouts, groups: number[]): { rollouts: Rollouts; rows: number[] } {
  const rank = new Map(groups.map((g, i) => [g, i]));
  const rows = r.groupIndex.map((g, i) => (rank.has(g) ? i : -1)).filter((i) => i >= 0);
  const pick = <T>(xs: T[]) => rows.map((i) => xs[i]!);
  return {
    rows,
    rollouts: {
      examples: pick(r.examples),
      groupIndex: rows.map((i) => rank.get(r.groupIndex[i]!)!),
      promptIds: pick(r.promptIds),
      completionIds: pick(r.completionIds),
      completions: pick(r.completions),
      truncated: pick(r.truncated),
      samplingLogprobs: pick(r.samplingLogprobs),
      numGeneratedTokens: r.numGeneratedTokens,
    },
  };
}

/** Appends `more` to `into` in place (same reward functions in both). */
function appendScores(into: ScoredCompletions, more: ScoredCompletions): void {
  into.total.push(...more.total);
  for (const [name, vals] of Object.entries(more.perFunction)) (into.perFunction[name] ??= []).push(...vals);
}

/** The scores of the listed rows, in that order. */
function pickScores(s: ScoredCompletions, rows: number[]): ScoredCompletions {
  const perFunction: ScoredCompletions['perFunction'] = {};
  for (const [name, vals] of Object.entries(s.perFunction)) perFunction[name] = rows.map((i) => vals[i]!);
  return { total: rows.map((i) => s.total[i]!), perFunction };
}

/** Rows [start, end) of a packed batch as a new PackedArrays (same T). */
function sliceRows(a: PackedArrays, start: number, end: number): PackedArrays {
  const T = a.seqLen;
  return {
    ...a,
    batchSize: end - start,
    inputIds: a.inputIds.slice(start * T, end * T),
    attentionMask: a.attentionMask.slice(start * T, end * T),
    targets: a.targets.slice(start * T, end * T),
    lossMask: a.lossMask.slice(start * T, end * T),
    promptLengths: a.promptLengths.slice(start, end),
    responseLengths: a.responseLengths.slice(start, end),
  };
}

/**
 * GRPO (DeepSeekMath, arXiv 2402.03300) as TRL's GRPOTrainer and verl implement it: groups of
 * completions per prompt, group-relative advantages, clipped importance ratios, optional k3 KL to a
 * frozen reference, pluggable loss terms and hooks. One instance holds optimizer and plugin state.
 */
export class GrpoTrainer {
  readonly config: GrpoConfig;
  readonly policy: Policy;
  readonly task: Task;
  readonly plugins: LossTermPlugin[];
  private readonly hooks: TrainerHooks;
  private readonly seed: number;
  private readonly id: string;
  private readonly optimizer: AdamW;
  private reference: CausalLM | null;

  constructor(opts: GrpoTrainerOptions) {
    this.config = opts.config;
    this.policy = opts.policy;
    this.task = opts.task;
    this.plugins = opts.plugins ?? [];
    this.hooks = opts.hooks ?? {};
    this.seed = opts.seed;
    this.id = opts.id ?? 'grpo';
    const names = new Set<string>();
    for (const p of this.plugins) {
      if (names.has(p.name)) throw new Error(`two loss-term plugins are named "${p.name}"; plugin names must be unique`);
      names.add(p.name);
    }
    // Clipping happens here (so grad_norm is logged before clipping); the optimizer only steps.
    this.optimizer = new AdamW(
      { lr: this.config.lr, weightDecay: this.config.weightDecay, gradClip: 0 },
      // Moments are named by the Hugging Face weight names so checkpoints resume in a new process.
      { variables: this.policy.model.weights },
    );
    // The frozen reference is the policy as it enters this trainer (TRL: the initial model).
    this.reference = this.config.beta > 0 ? this.policy.model.clone() : null;
  }

  get model(): CausalLM {
    return this.policy.model;
  }

  private maxNewTokens(): number {
    return this.config.maxCompletionLength ?? this.task.maxCompletionLength;
  }

  /** Samples the step's prompts and completions (with DAPO dynamic-sampling refills). */
  private async collect(step: number): Promise<{ rollouts: Rollouts; rewards: ScoredCompletions; refills: number; sampledGroups: number; zeroStdGroups: number }> {
    const c = this.config;
    const pool = this.task.split(c.split);
    if (pool.length === 0) throw new Error(`task "${this.task.name}" has an empty ${c.split} split; GRPO needs prompts`);
    const parts: Rollouts[] = [];
    // Groups never span rounds, so each round's rollouts are scored once and the scores concatenated.
    const scored: ScoredCompletions = { total: [], perFunction: {} };
    let refills = 0;
    let sampledGroups = 0;
    let zeroStdGroups = 0;
    const kept: number[] = [];
    let all: Rollouts | null = null;
    for (let round = 0; round <= (c.dynamicSampling ? c.maxRefills : 0); round++) {
      const rand = makeRandom(streamSeed(this.seed, this.id, step, 'prompts', round));
      const need = c.dynamicSampling ? c.promptsPerStep - kept.length : c.promptsPerStep;
      const examples: TaskExample[] = sampleIndices(pool.length, need, rand).map((i) => pool[i]!);
      const r = await sampleGroups(this.policy, this.task, examples, c.groupSize, {
        temperature: c.temperature,
        topP: c.topP,
        topK: c.topK,
        maxNewTokens: this.maxNewTokens(),
        seed: streamSeed(this.seed, this.id, step, 'sample', round),
      });
      parts.push(r);
      all = concatRollouts(parts);
      appendScores(scored, this.score(r, step));
      const groupCount = Math.max(...all.groupIndex) + 1;
      kept.length = 0;
      zeroStdGroups = 0;
      for (let g = 0; g < groupCount; g++) {
        const rs = scored.total.filter((_, i) => all!.groupIndex[i] === g);
        if (Math.max(...rs) - Math.min(...rs) > 0) kept.push(g);
        else zeroStdGroups++;
      }
      sampledGroups = groupCount;
      if (!c.dynamicSampling || kept.length >= c.promptsPerStep) break;
      if (round < c.maxRefills) refills++;
    }
    if (!c.dynamicSampling) return { rollouts: all!, rewards: scored, refills, sampledGroups, zeroStdGroups };
    // Every group had equal rewards even after the refills: train on the first promptsPerStep groups
    // (zero advantages; KL and plugin terms still act) rather than on an empty batch.
    const chosen = kept.length ? kept.slice(0, c.promptsPerStep) : Array.from({ length: Math.min(c.promptsPerStep, sampledGroups) }, (_, g) => g);
    const { rollouts, rows } = selectGroups(all!, chosen);
    return { rollouts, rewards: pickScores(scored, rows), refills, sampledGroups, zeroStdGroups };
  }

  private score(r: Rollouts, step: number) {
    const groups = new Map<number, string[]>();
    r.completions.forEach((c, i) => {
      const g = r.groupIndex[i]!;
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g)!.push(c);
    });
    const inputs: RewardInput[] = r.completions.map((completion, i) => ({
      group: groups.get(r.groupIndex[i]!)!,
      prompt: r.examples[i]!.prompt,
      completion,
      example: r.examples[i]!,
      task: this.task,
      truncated: r.truncated[i]!,
      state: { step, totalSteps: this.config.steps },
    }));
    return scoreCompletions(inputs, this.config.rewards);
  }

  /** Per-token log-probs [B, T] of a packed batch under a model, no gradient. */
  private logprobsOf(model: CausalLM, a: PackedArrays): tf.Tensor2D {
    return tf.tidy(() => {
      const b = toPackedBatch(a);
      const logits = model.forward(b.inputIds, { attentionMask: b.attentionMask });
      return tokenLogProbsAndEntropy(logits, b.targets, this.config.temperature).logProbs;
    });
  }

  /** One GRPO optimizer step (or numIterations of them on the same rollouts). */
  async step(step: number): Promise<GrpoStepResult> {
    const c = this.config;
    const hookBefore = await this.hooks.beforeStep?.({ stage: this.id, step, totalSteps: c.steps });
    if (hookBefore && hookBefore.stop) return { metrics: {}, stop: { reason: hookBefore.reason }, skipped: true };
    const t0 = performance.now();
    const { rollouts, rewards, refills, sampledGroups, zeroStdGroups } = await this.collect(step);
    const tGen = performance.now();
    const G = c.groupSize;
    const B = rollouts.completions.length;
    const adv = computeAdvantages(rewards.total, G, c.scaleRewards);
    const metrics: Record<string, number> = {};

    const lengths = rollouts.completionIds.map((t) => t.length);
    metrics['reward'] = mean(rewards.total);
    metrics['reward_std'] = std(rewards.total);
    for (const [name, vals] of Object.entries(rewards.perFunction)) {
      const applicable = vals.filter((v): v is number => v !== null);
      metrics[`rewards/${name}/mean`] = mean(applicable);
      metrics[`rewards/${name}/std`] = std(applicable);
    }
    metrics['frac_reward_zero_std'] = sampledGroups ? zeroStdGroups / sampledGroups : 0;
    metrics['completions/mean_length'] = mean(lengths);
    metrics['completions/min_length'] = lengths.length ? Math.min(...lengths) : 0;
    metrics['completions/max_length'] = lengths.length ? Math.max(...lengths) : 0;
    metrics['completions/clipped_ratio'] = mean(rollouts.truncated.map((t) => (t ? 1 : 0)));
    metrics['sampling/refills'] = refills;
    metrics['sampling/groups'] = B / G;

    const packed = packBatchArrays(rollouts.promptIds, rollouts.completionIds, this.policy.tokenizer.padTokenId);
    if (c.maskTruncatedCompletions) {
      const T = packed.seqLen;
      rollouts.truncated.forEach((t, b) => {
        if (t) packed.lossMask.fill(0, b * T, (b + 1) * T);
      });
    }
    const advantages = Float32Array.from(adv.advantages);
    const micro = c.gradientAccumulationSteps;
    const groupsPerMicro = Math.max(1, Math.ceil(B / G / micro));
    const slices: [number, number][] = [];
    for (let s = 0; s < B; s += groupsPerMicro * G) slices.push([s, Math.min(B, s + groupsPerMicro * G)]);
    const parts = slices.map(([s, e]) => sliceRows(packed, s, e));
    const lossTokens = packed.lossMask.reduce((a, b) => a + b, 0);

    // Old log-probs are only needed as constants when mu > 1; with mu = 1 the ratio is 1 in value.
    const oldLogprobs = c.numIterations > 1 ? parts.map((p) => this.logprobsOf(this.model, p)) : null;
    const refLogprobs = this.reference ? parts.map((p) => this.logprobsOf(this.reference!, p)) : null;

    const vars = this.model.trainableVariables();
    const sums: Record<string, number> = {};
    const add = (k: string, v: number, w: number) => {
      sums[k] = (sums[k] ?? 0) + v * w;
    };
    let gradNorm = 0;
    const lr = lrAt(toLrSchedule(c), c.lr, step);
    for (let iter = 0; iter < c.numIterations; iter++) {
      let acc: tf.NamedTensorMap | null = null;
      for (let m = 0; m < parts.length; m++) {
        const part = parts[m]!;
        const [s, e] = slices[m]!;
        // Share of micro-batch m in the full-batch loss: its tokens for bnpo (token mean over the
        // batch), its rows for grpo / dr_grpo (means over sequences). Gradients and metrics use it.
        const weight =
          c.lossType === 'bnpo' ? part.lossMask.reduce((a, b) => a + b, 0) / Math.max(1, lossTokens) : part.batchSize / B;
        const kept = new Map<string, tf.Tensor>();
        const { value, grads } = tf.variableGrads(() => {
          const b = toPackedBatch(part);
          const logits = this.model.forward(b.inputIds, { attentionMask: b.attentionMask }); // [b, T, V]
          const { logProbs: logprobs, entropy } = tokenLogProbsAndEntropy(logits, b.targets, c.temperature); // [b, T]
          const advT = tf.tensor1d(advantages.subarray(s, e));
          const out = grpoLoss({
            logprobs,
            oldLogprobs: oldLogprobs ? oldLogprobs[m]! : stopGradient(logprobs),
            refLogprobs: refLogprobs ? refLogprobs[m]! : undefined,
            advantages: advT,
            mask: b.lossMask,
            epsLow: c.epsLow,
            epsHigh: c.epsHigh ?? c.epsLow,
            beta: c.beta,
            importanceLevel: c.importanceSampling,
            lossType: c.lossType,
            maxCompletionLength: this.maxNewTokens(),
          });
          let total: tf.Scalar = out.loss;
          const named: Record<string, tf.Scalar | number> = {
            policy_loss: out.loss,
            entropy: maskedMean(entropy, b.lossMask) as tf.Scalar,
            kl: out.metrics.kl,
            'clip_ratio/low_mean': out.metrics.clipRatioLow,
            'clip_ratio/high_mean': out.metrics.clipRatioHigh,
            'clip_ratio/region_mean': out.metrics.clipRatioRegion,
            'ratio/mean': out.metrics.ratioMean,
          };
          for (const plugin of this.plugins) {
            const term = plugin.compute({
              logits, logprobs, targets: b.targets, lossMask: b.lossMask, temperature: c.temperature,
              step, totalSteps: c.steps, advantages: advT,
            });
            if (term.coef !== 0) total = tf.add(total, tf.mul(term.loss, term.coef));
            named[`${plugin.name}/loss`] = term.loss;
            named[`${plugin.name}/coef`] = term.coef;
            for (const [k, v] of Object.entries(term.metrics ?? {})) named[`${plugin.name}/${k}`] = v;
          }
          named['loss'] = total;
          for (const [k, v] of Object.entries(named)) {
            if (typeof v === 'number') add(k, v, weight);
            else kept.set(k, tf.keep(v));
          }
          return total;
        }, vars);
        for (const [name, t] of kept) add(name, t.dataSync()[0]!, weight);
        new Set([value, ...kept.values()]).forEach((t) => t.dispose());
        // grpoLoss normalizes within each micro-batch; the weighted sum is the full batch's gradient.
        if (parts.length === 1 && weight === 1) acc = grads;
        else {
          const prev: tf.NamedTensorMap | null = acc;
          acc = {};
          for (const k of Object.keys(grads)) {
            acc[k] = tf.tidy(() => (prev ? tf.add(prev[k]!, tf.mul(grads[k]!, weight)) : tf.mul(grads[k]!, weight)));
            prev?.[k]!.dispose();
            grads[k]!.dispose();
          }
        }
      }
      const clipped = clipGlobalNorm(acc!, c.gradClip > 0 ? c.gradClip : Infinity);
      gradNorm = clipped.norm;
      this.optimizer.applyGradients(clipped.grads, lr);
      for (const k of Object.keys(acc!)) acc![k]!.dispose();
      if (clipped.grads !== acc) for (const k of Object.keys(clipped.grads)) clipped.grads[k]!.dispose();
    }
    oldLogprobs?.forEach((t) => t.dispose());
    refLogprobs?.forEach((t) => t.dispose());

    for (const [k, v] of Object.entries(sums)) metrics[k] = v / c.numIterations;
    metrics['grad_norm'] = gradNorm;
    metrics['learning_rate'] = lr;
    const tEnd = performance.now();
    metrics['perf/step_time'] = (tEnd - t0) / 1000;
    metrics['perf/generation_time'] = (tGen - t0) / 1000;
    metrics['perf/tokens_per_sec'] = (packed.batchSize * packed.seqLen * (1 + c.numIterations)) / ((tEnd - t0) / 1000);
    metrics['perf/generated_tokens'] = rollouts.numGeneratedTokens;

    for (const plugin of this.plugins) plugin.afterStep?.(metrics, step);
    const hook: HookResult = await this.hooks.afterStep?.({ stage: this.id, step, totalSteps: c.steps, metrics });
    return hook && hook.stop ? { metrics, stop: { reason: hook.reason } } : { metrics };
  }

  /** Optimizer moments and plugin states for checkpoints. */
  stateTensors(): tf.NamedTensorMap {
    return this.optimizer.state();
  }

  loadStateTensors(state: tf.NamedTensorMap): void {
    this.optimizer.loadState(state);
  }

  pluginStates(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const p of this.plugins) if (p.state) out[p.name] = p.state();
    return out;
  }

  loadPluginStates(states: Record<string, Record<string, number>>): void {
    for (const p of this.plugins) if (states[p.name] && p.loadState) p.loadState(states[p.name]!);
  }

  dispose(): void {
    this.optimizer.dispose();
    this.reference?.dispose();
    this.reference = null;
  }
}
