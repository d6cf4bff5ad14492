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
