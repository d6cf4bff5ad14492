import { packBatchArrays } from '@emrl/lm';
import type { Policy } from '../policy';
import { makeRandom, sampleIndices, streamSeed } from '../seed';
import type { Task, TaskExample } from '../tasks/task';
import type { Sampler, TrainBatch } from '../trainer/sampler';
import { computeAdvantages, filterZeroStdGroups, mean, unbiasedStd as std, type AdvantageScale } from './advantages';
import { scoreCompletions, type RewardInput, type ScoredCompletions, type WeightedReward } from './rewards';
import { sampleGroups, type Rollouts } from './rollout';

export interface GroupSamplerOptions {
  policy: Policy;
  task: Task;
  /** Stage id and run seed: the random streams are (seed, id, step, 'prompts' | 'sample', round). */
  id: string;
  seed: number;
  split: 'train' | 'test' | 'probe';
  promptsPerStep: number;
  groupSize: number;
  temperature: number;
  topP: number;
  topK: number;
  maxNewTokens: number;
  rewards: readonly WeightedReward[];
  scaleRewards: AdvantageScale;
  /** DAPO dynamic sampling: drop zero-std groups and sample more prompts, up to maxRefills rounds. */
  dynamicSampling: boolean;
  maxRefills: number;
  /** Exclude completions that hit maxNewTokens from the loss (TRL mask_truncated_completions). */
  maskTruncatedCompletions: boolean;
  totalSteps: number;
}

/** Concatenates rollouts of several sampling rounds (dynamic sampling refills). */
function concatRollouts(parts: Rollouts[]): Rollouts {
  let offset = 0;
  const out: Rollouts = { examples: [], groupIndex: [], promptIds: [], completionIds: [], completions: [], truncated: [], samplingLogprobs: [], numGeneratedTokens: 0 };
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

/** Keeps only the listed groups (in order), renumbering them 0..n-1; with their scores. */
function selectGroups(r: Rollouts, s: ScoredCompletions, groups: number[]): { rollouts: Rollouts; rewards: ScoredCompletions } {
  const rank = new Map(groups.map((g, i) => [g, i]));
  const rows = r.groupIndex.map((g, i) => (rank.has(g) ? i : -1)).filter((i) => i >= 0);
  const pick = <T>(xs: T[]) => rows.map((i) => xs[i]!);
  const perFunction: ScoredCompletions['perFunction'] = {};
  for (const [name, vals] of Object.entries(s.perFunction)) perFunction[name] = pick(vals);
  return {
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
    rewards: { total: pick(s.total), perFunction },
  };
}

/**
 * GRPO's sampler: each step, `promptsPerStep` prompts from a task split, `groupSize` completions
 * each, scored by the weighted reward functions, group-relative advantages (TRL's
 * scale_rewards), and DAPO's dynamic sampling (arXiv 2503.14476) when asked.
 */
export class GroupSampler implements Sampler {
  readonly description: string;

  constructor(private readonly o: GroupSamplerOptions) {
    this.description = `${o.promptsPerStep} ${o.split} prompts x ${o.groupSize} completions per step`;
  }

  async collect(step: number): Promise<TrainBatch> {
    const o = this.o;
    const { rollouts, rewards, refills, sampledGroups, zeroStdGroups } = await this.sample(step);
    const packed = packBatchArrays(rollouts.promptIds, rollouts.completionIds, o.policy.tokenizer.padTokenId);
    if (o.maskTruncatedCompletions) {
      const T = packed.seqLen;
      rollouts.truncated.forEach((t, b) => {
        if (t) packed.lossMask.fill(0, b * T, (b + 1) * T);
      });
    }
    const adv = computeAdvantages(rewards.total, o.groupSize, o.scaleRewards);
    const lengths = rollouts.completionIds.map((t) => t.length);
    const metrics: Record<string, number> = { reward: mean(rewards.total), reward_std: std(rewards.total) };
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
    metrics['sampling/groups'] = rollouts.completions.length / o.groupSize;
    return { packed, groupSize: o.groupSize, advantages: Float32Array.from(adv.advantages), metrics, generatedTokens: rollouts.numGeneratedTokens };
  }

  /** Samples the step's groups, refilling zero-std ones when dynamic sampling is on. */
  private async sample(step: number) {
    const o = this.o;
    const pool = o.task.split(o.split);
    if (pool.length === 0) throw new Error(`task "${o.task.name}" has an empty ${o.split} split; GRPO needs prompts`);
    const parts: Rollouts[] = [];
    // Groups never span rounds, so each round's rollouts are scored once and the scores concatenated.
    const scored: ScoredCompletions = { total: [], perFunction: {} };
    let refills = 0;
    let kept: number[] = [];
    let all: Rollouts | null = null;
    for (let round = 0; round <= (o.dynamicSampling ? o.maxRefills : 0); round++) {
      const rand = makeRandom(streamSeed(o.seed, o.id, step, 'prompts', round));
      const need = o.dynamicSampling ? o.promptsPerStep - kept.length : o.promptsPerStep;
      const examples: TaskExample[] = sampleIndices(pool.length, need, rand).map((i) => pool[i]!);
      const r = await sampleGroups(o.policy, o.task, examples, o.groupSize, {
        temperature: o.temperature,
        topP: o.topP,
        topK: o.topK,
        maxNewTokens: o.maxNewTokens,
        seed: streamSeed(o.seed, o.id, step, 'sample', round),
      });
      parts.push(r);
      all = concatRollouts(parts);
      const more = this.score(r, step);
      scored.total.push(...more.total);
      for (const [name, vals] of Object.entries(more.perFunction)) (scored.perFunction[name] ??= []).push(...vals);
      // The same zero-std criterion as TRL's frac_reward_zero_std (advantages.ts).
      kept = filterZeroStdGroups(scored.total, o.groupSize).keptGroups;
      if (!o.dynamicSampling || kept.length >= o.promptsPerStep) break;
      if (round < o.maxRefills) refills++;
    }
    const sampledGroups = all!.completions.length / o.groupSize;
    const zeroStdGroups = sampledGroups - kept.length;
    if (!o.dynamicSampling) return { rollouts: all!, rewards: scored, refills, sampledGroups, zeroStdGroups };
    // Every group had equal rewards even after the refills: train on the first promptsPerStep groups
    // (zero advantages; KL and plugin terms still act) rather than on an empty batch.
    const chosen = kept.length ? kept.slice(0, o.promptsPerStep) : Array.from({ length: Math.min(o.promptsPerStep, sampledGroups) }, (_, g) => g);
    return { ...selectGroups(all!, scored, chosen), refills, sampledGroups, zeroStdGroups };
  }

  private score(r: Rollouts, step: number): ScoredCompletions {
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
      task: this.o.task,
      truncated: r.truncated[i]!,
      state: { step, totalSteps: this.o.totalSteps },
    }));
    return scoreCompletions(inputs, this.o.rewards);
  }
}
