// GRPO advantages from grouped scalar rewards, following TRL's GRPOTrainer:
//   A_i = r_i - mean_G(r)                       (always the group mean)
//   A_i /= (std + eps)                          unless scale = 'none' ("Dr. GRPO", arXiv 2503.20783)
// where std is the UNBIASED (Bessel, n-1) standard deviation, as torch.std does by default:
// scale 'group' uses the std of the prompt's group, 'batch' the std of all rewards of the batch.
// A group whose std is ~0 carries no signal; DAPO's dynamic sampling (arXiv 2503.14476) drops it.
import { z } from 'zod';

export const AdvantageScaleSchema = z.enum(['group', 'batch', 'none']);
export type AdvantageScale = z.infer<typeof AdvantageScaleSchema>;

export const AdvantageConfigSchema = z.object({
  /** Completions per prompt (G); rewards are laid out group after group. */
  groupSize: z.number().int().min(1),
  /** Which std divides the centred rewards: the group's, the whole batch's, or none (Dr. GRPO). */
  scale: AdvantageScaleSchema.default('group'),
  /** Added to the std before dividing (TRL uses 1e-4). */
  eps: z.number().nonnegative().default(1e-4),
});
export type AdvantageConfig = z.infer<typeof AdvantageConfigSchema>;

export interface Advantages {
  /** One advantage per completion [B]. */
  advantages: number[];
  /** Mean reward of each group [B / G]. */
  groupMean: number[];
  /** Unbiased std of each group's rewards [B / G] (0 when G = 1). Logged even when scale != 'group'. */
  groupStd: number[];
  /** The std actually used to scale (group std, batch std or NaN for 'none'). */
  scaleStd: number[];
  /** true where a group's rewards are all (numerically) equal [B / G]. */
  zeroStdGroupMask: boolean[];
  /** Fraction of groups with zero std (TRL's `frac_reward_zero_std`, per group = per completion). */
  fracZeroStd: number;
}

/** torch.isclose(std, 0) with its default atol 1e-8 (rtol is irrelevant against 0). */
const ZERO_STD_ATOL = 1e-8;

/** Mean; 0 for no values (a metric of an empty batch). */
export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Unbiased (n - 1) standard deviation; 0 for a single value (TRL's fallback when G = 1). */
export function unbiasedStd(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  let ss = 0;
  for (const x of xs) ss += (x - m) * (x - m);
  return Math.sqrt(ss / (xs.length - 1));
}

function checkRewards(rewards: readonly number[], groupSize: number): void {
  if (!Number.isInteger(groupSize) || groupSize < 1) {
    throw new Error(`advantages.ts: groupSize must be a positive integer, got ${groupSize}`);
  }
  if (rewards.length === 0 || rewards.length % groupSize !== 0) {
    throw new Error(
      `advantages.ts: rewards.length (${rewards.length}) must be a positive multiple of groupSize (${groupSize}); ` +
        'lay out G completions per prompt, group after group',
    );
  }
  const bad = rewards.findIndex((r) => !Number.isFinite(r));
  if (bad >= 0) {
    throw new Error(
      `advantages.ts: rewards[${bad}] = ${rewards[bad]} is not finite; map "not applicable" (null) rewards to a number before computing advantages`,
    );
  }
}

/** Split a flat [B] array into B / G consecutive groups. */
export function groupRewards(rewards: readonly number[], groupSize: number): number[][] {
  checkRewards(rewards, groupSize);
  const groups: number[][] = [];
  for (let i = 0; i < rewards.length; i += groupSize) groups.push(rewards.slice(i, i + groupSize));
  return groups;
}

/**
 * Group-relative advantages as TRL computes them (see the file header).
 * `rewards` is [B] with B = (#prompts) x groupSize, each prompt's G completions contiguous.
 */
export function computeAdvantages(
  rewards: readonly number[],
  groupSize: number,
  scale: AdvantageScale = 'group',
  eps = 1e-4,
): Advantages {
  const groups = groupRewards(rewards, groupSize);
  const groupMean = groups.map(mean);
  const groupStd = groups.map(unbiasedStd);
  const batchStd = unbiasedStd(rewards);
  const advantages: number[] = [];
  const scaleStd: number[] = [];
  groups.forEach((g, gi) => {
    const std = scale === 'group' ? groupStd[gi]! : scale === 'batch' ? batchStd : Number.NaN;
    scaleStd.push(std);
    for (const r of g) {
      const centred = r - groupMean[gi]!;
      advantages.push(scale === 'none' ? centred : centred / (std + eps));
    }
  });
  // TRL flags zero std on the std it computed for the chosen scale ('none' logs the group std).
  const flagStd = scale === 'batch' ? groups.map(() => batchStd) : groupStd;
  const zeroStdGroupMask = flagStd.map((s) => Math.abs(s) <= ZERO_STD_ATOL);
  const fracZeroStd = zeroStdGroupMask.filter(Boolean).length / groups.length;
  return { advantages, groupMean, groupStd, scaleStd, zeroStdGroupMask, fracZeroStd };
}

export interface FilteredGroups {
  /** Indices (into the flat [B] batch) of the completions that are kept, in order. */
  keptIndices: number[];
  /** Indices of the groups that are kept / dropped. */
  keptGroups: number[];
  droppedGroups: number[];
}

/**
 * DAPO dynamic sampling (arXiv 2503.14476): drop every group whose rewards are all equal
 * (unbiased std <= 1e-8), since its advantages are all zero and it only dilutes the batch.
 * Returns the indices to keep; the caller decides whether to resample to refill the batch.
 */
export function filterZeroStdGroups(rewards: readonly number[], groupSize: number): FilteredGroups {
  const groups = groupRewards(rewards, groupSize);
  const keptIndices: number[] = [];
  const keptGroups: number[] = [];
  const droppedGroups: number[] = [];
  groups.forEach((g, gi) => {
    if (unbiasedStd(g) <= ZERO_STD_ATOL) {
      droppedGroups.push(gi);
      return;
    }
    keptGroups.push(gi);
    for (let j = 0; j < groupSize; j++) keptIndices.push(gi * groupSize + j);
  });
  return { keptIndices, keptGroups, droppedGroups };
}
