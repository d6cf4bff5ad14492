import { fmt, table } from './stats';

/**
 * The summary table of issue #15 (emrl vs PyTorch, same run), as pure formatting: the measured
 * numbers come in, a markdown table comes out. Throughput rows are better when higher (tokens/s),
 * step rows when lower (ms); each ratio is emrl / PyTorch of the row's own quantity.
 */

export type Unit = 'tokens/s' | 'ms';

export interface Goal {
  /** Which PyTorch column the goal compares with. */
  threads: 1 | 2;
  /** emrl / PyTorch must be >= this (tokens/s) or <= this (ms). */
  ratio: number;
}

export interface SummaryRow {
  what: string;
  unit: Unit;
  emrl: number | null;
  torch1: number | null;
  torch2: number | null;
  goal?: Goal;
}

/** emrl / PyTorch, or null when either side is missing. */
export function ratioOf(emrl: number | null, torch: number | null): number | null {
  return emrl === null || torch === null || !(torch > 0) ? null : emrl / torch;
}

/** The better of the two PyTorch numbers for this unit (higher tokens/s, lower ms). */
export function bestTorch(row: SummaryRow): number | null {
  const xs = [row.torch1, row.torch2].filter((x): x is number => x !== null);
  if (xs.length === 0) return null;
  return row.unit === 'ms' ? Math.min(...xs) : Math.max(...xs);
}

/** "met" / "missed" / "-" (nothing to compare), with the goal written out. */
export function goalStatus(row: SummaryRow): string {
  if (!row.goal) return '';
  const r = ratioOf(row.emrl, row.goal.threads === 1 ? row.torch1 : row.torch2);
  const want = `${row.unit === 'ms' ? '<=' : '>='} ${row.goal.ratio} x PyTorch ${row.goal.threads}t`;
  if (r === null) return `${want}: -`;
  const met = row.unit === 'ms' ? r <= row.goal.ratio : r >= row.goal.ratio;
  return `${want}: ${met ? 'met' : 'missed'}`;
}

const num = (x: number | null, unit: Unit): string => (x === null ? '-' : unit === 'ms' ? fmt(x, 1) : fmt(x, 0));
const rat = (x: number | null): string => (x === null ? '-' : x.toFixed(2));

export function issue15Table(rows: SummaryRow[]): string {
  return table(
    ['what', 'unit', 'emrl', 'PyTorch 1t', 'PyTorch 2t', 'emrl / PyTorch 1t', 'emrl / best PyTorch', 'goal (issue #15)'],
    rows.map((r) => [r.what, r.unit, num(r.emrl, r.unit), num(r.torch1, r.unit), num(r.torch2, r.unit), rat(ratioOf(r.emrl, r.torch1)), rat(ratioOf(r.emrl, bestTorch(r))), goalStatus(r)]),
  );
}
