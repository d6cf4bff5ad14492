import type { GenResult, TrainResult } from './model-bench';
import type { StepTiming } from './step-bench';
import { fmt, table } from './stats';
import type { TorchRow } from './torch-runner';

/**
 * The summary table of issue #15 (emrl vs PyTorch, same run), as pure formatting: the measured
 * numbers come in, a markdown table comes out. Throughput rows are better when higher (tokens/s),
 * step rows when lower (ms); each ratio is emrl / PyTorch of the row's own quantity.
 */

export type Unit = 'tokens/s' | 'ms';

export interface Goal {
  /** Which PyTorch column the goal compares with ('best': the better of its 1 and 2 threads). */
  threads: 1 | 2 | 'best';
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
  const g = row.goal.threads;
  const r = ratioOf(row.emrl, g === 'best' ? bestTorch(row) : g === 1 ? row.torch1 : row.torch2);
  const want = `${row.unit === 'ms' ? '<=' : '>='} ${row.goal.ratio} x ${g === 'best' ? 'best PyTorch' : `PyTorch ${g}t`}`;
  if (r === null) return `${want}: -`;
  // A 2-thread goal is judged only where PyTorch's 2 threads beat its 1 thread: on a loaded or
  // oversubscribed machine its 2-thread wall time is worse, and "met" would only say that.
  if (row.goal.threads === 2 && row.torch1 !== null && row.torch2 !== null && !(row.unit === 'ms' ? row.torch2 < row.torch1 : row.torch2 > row.torch1)) {
    return `${want}: not judged (PyTorch 2t slower than 1t here)`;
  }
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

/** What one bench run measured (any part may be empty when its section was skipped). */
export interface Issue15Inputs {
  train: TrainResult[];
  gen: GenResult[];
  parallel: { batch: number; workers: number; tokensPerS: number }[];
  steps: StepTiming[];
  torch: TorchRow[];
}

/** The issue-#15 rows that this run measured, with the issue's goals. */
export function issue15Rows({ train, gen, parallel, steps, torch }: Issue15Inputs): SummaryRow[] {
  const tt = (name: string, threads: number): number | null => torch.find((r) => r.name === name && r.threads === threads)?.tokens_per_s ?? null;
  const rows: SummaryRow[] = [];
  const a = train.find((r) => r.name === 'train-a');
  if (a) rows.push({ what: 'train (a) 2x96, batch 64x51, 1 thread', unit: 'tokens/s', emrl: a.tokensPerS, torch1: tt('train-a', 1), torch2: tt('train-a', 2), goal: { threads: 1, ratio: 0.5 } });
  const dp = parallel.find((r) => r.batch === 64 && r.workers === 2);
  if (dp) rows.push({ what: 'train (a), 2 data-parallel threads (wall)', unit: 'tokens/s', emrl: dp.tokensPerS, torch1: tt('train-a', 1), torch2: tt('train-a', 2), goal: { threads: 2, ratio: 0.8 } });
  const b = train.find((r) => r.name === 'train-b');
  if (b) rows.push({ what: `train (b) 8x512, ${b.shape.split(', ').pop()}`, unit: 'tokens/s', emrl: b.tokensPerS, torch1: tt('train-b', 1), torch2: tt('train-b', 2), goal: { threads: 1, ratio: 0.5 } });
  const goals: Record<number, number> = { 1: 0.5, 64: 1 };
  for (const batch of [1, 16, 64]) {
    const g = gen.find((r) => r.name === `gen-cache-b${batch}`);
    const goal = goals[batch];
    if (g) rows.push({ what: `cached greedy decoding, batch ${batch}, new tokens/s`, unit: 'tokens/s', emrl: g.tokensPerS, torch1: tt(g.name, 1), torch2: tt(g.name, 2), ...(goal ? { goal: { threads: 1, ratio: goal } } : {}) });
  }
  for (const [name, what] of [
    ['em-step', 'EM step (8 rollouts, entropy, AdamW)'],
    ['grpo-step', 'GRPO step (8x8, mu 2, k3 KL)'],
  ] as const) {
    const at = (impl: StepTiming['impl'], threads: number): number | null => steps.find((r) => r.name === name && r.impl === impl && r.threads === threads)?.ms ?? null;
    const emrl = at('emrl', 1);
    if (emrl !== null) rows.push({ what, unit: 'ms', emrl, torch1: at('pytorch', 1), torch2: at('pytorch', 2), goal: { threads: 1, ratio: 1 } });
    // Both cores (--threads 2, wall time), against PyTorch's best: its 2 threads where they beat its 1.
    const two = at('emrl', 2);
    if (two !== null) rows.push({ what: `${what}, emrl 2 threads (wall)`, unit: 'ms', emrl: two, torch1: at('pytorch', 1), torch2: at('pytorch', 2), goal: { threads: 'best', ratio: 1 } });
  }
  return rows;
}
