import type { RunSummary } from '../report/summary';
import type { SweepCell } from './sweep-config';

/** Headline numbers of one finished cell: the last boundary's diagnostics and stage summaries. */
export function cellMetrics(s: RunSummary): Record<string, number> {
  const out: Record<string, number> = {};
  const last = s.boundaries[s.boundaries.length - 1];
  if (last) {
    for (const [t, a] of Object.entries(last.accuracyByTemperature)) out[`acc@T=${t}`] = a;
    if (last.skewness !== null) out['skewness'] = last.skewness;
    if (last.entropy !== null) out['entropy'] = last.entropy;
    if (last.ece !== null) out['ece'] = last.ece;
    if (last.brier !== null) out['brier'] = last.brier;
  }
  for (const st of s.stages) for (const [k, v] of Object.entries(st.summary)) out[`${st.id}/${k}`] = v;
  return out;
}

export interface Stat {
  mean: number;
  /** Sample standard deviation (n - 1); 0 for a single seed. */
  std: number;
  n: number;
  min: number;
  max: number;
}

export function stat(xs: readonly number[]): Stat {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, n, min: Math.min(...xs), max: Math.max(...xs) };
}

export interface GroupStats {
  group: string;
  curriculum: string | null;
  axes: Record<string, unknown>;
  seeds: number[];
  metrics: Record<string, Stat>;
}

/** Mean +- std across seeds for every group (cells identical up to the seed). */
export function aggregateCells(cells: readonly { cell: SweepCell; metrics: Record<string, number> }[]): GroupStats[] {
  const groups = new Map<string, { cell: SweepCell; metrics: Record<string, number> }[]>();
  for (const c of cells) groups.set(c.cell.group, [...(groups.get(c.cell.group) ?? []), c]);
  return [...groups.entries()].map(([group, members]) => {
    const keys = [...new Set(members.flatMap((m) => Object.keys(m.metrics)))];
    const metrics: Record<string, Stat> = {};
    for (const k of keys) {
      const xs = members.map((m) => m.metrics[k]).filter((x): x is number => x !== undefined && Number.isFinite(x));
      if (xs.length > 0) metrics[k] = stat(xs);
    }
    return { group, curriculum: members[0]!.cell.curriculum, axes: members[0]!.cell.axes, seeds: members.map((m) => m.cell.seed), metrics };
  });
}

/**
 * Two-sided 95% Student-t critical values t_{0.975, df} for df = 1..30 (standard table values);
 * above 30 the normal 1.96 is used (t_{0.975, 30} = 2.042, so the interval is at most ~4% narrower).
 */
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

export function tCritical95(df: number): number {
  if (!(df >= 1)) throw new Error(`tCritical95: df must be >= 1, got ${df}`);
  return df <= 30 ? T975[Math.floor(df) - 1]! : 1.96;
}

export interface PairedDiff {
  group: string;
  baseline: string;
  metric: string;
  /** Seeds present in both groups. */
  n: number;
  /** Mean over shared seeds of (group - baseline). */
  meanDiff: number;
  /** 95% paired t interval of the mean difference (NaN with one seed). */
  lo: number;
  hi: number;
  /** The interval contains 0: the difference is within seed-to-seed noise. */
  withinNoise: boolean;
}

/**
 * Paired comparison across seeds: for every pair of groups, the per-seed differences of `metric`
 * (same seed = same sampled prompts and initial draws), their mean and 95% t interval. Pairing
 * removes the seed effect both groups share, so this is tighter than comparing two mean +- std.
 */
export function pairedComparisons(cells: readonly { group: string; seed: number; metrics: Record<string, number> }[], metric: string): PairedDiff[] {
  const bySeed = new Map<string, Map<number, number>>();
  for (const c of cells) {
    const v = c.metrics[metric];
    if (v === undefined || !Number.isFinite(v)) continue;
    bySeed.set(c.group, (bySeed.get(c.group) ?? new Map<number, number>()).set(c.seed, v));
  }
  const groups = [...bySeed.keys()];
  const out: PairedDiff[] = [];
  for (let i = 0; i < groups.length; i++) {
    for (let j = i + 1; j < groups.length; j++) {
      const a = bySeed.get(groups[j]!)!;
      const b = bySeed.get(groups[i]!)!;
      const diffs = [...a.keys()].filter((s) => b.has(s)).map((s) => a.get(s)! - b.get(s)!);
      if (diffs.length === 0) continue;
      const st = stat(diffs);
      const half = diffs.length > 1 ? tCritical95(diffs.length - 1) * (st.std / Math.sqrt(diffs.length)) : NaN;
      const lo = st.mean - half;
      const hi = st.mean + half;
      out.push({ group: groups[j]!, baseline: groups[i]!, metric, n: diffs.length, meanDiff: st.mean, lo, hi, withinNoise: diffs.length > 1 && lo <= 0 && hi >= 0 });
    }
  }
  return out;
}
