import { describe, expect, it } from 'vitest';
import { bestTorch, goalStatus, issue15Rows, issue15Table, ratioOf, type SummaryRow } from './issue15-table';
import type { StepTiming } from './step-bench';

const train: SummaryRow = { what: 'train (a), 1 thread', unit: 'tokens/s', emrl: 16_000, torch1: 40_000, torch2: 50_000, goal: { threads: 1, ratio: 0.5 } };
const step: SummaryRow = { what: 'EM step', unit: 'ms', emrl: 60, torch1: 30, torch2: 40, goal: { threads: 1, ratio: 1 } };

describe('issue #15 summary table', () => {
  it('ratios are emrl / PyTorch; the best PyTorch is the higher throughput or the lower time', () => {
    expect(ratioOf(16_000, 40_000)).toBeCloseTo(0.4, 12);
    expect(ratioOf(null, 40_000)).toBeNull();
    expect(ratioOf(1, 0)).toBeNull();
    expect(bestTorch(train)).toBe(50_000);
    expect(bestTorch(step)).toBe(30);
    expect(bestTorch({ ...step, torch1: null, torch2: null })).toBeNull();
  });

  it('a goal is met above the ratio for throughput and below it for time', () => {
    expect(goalStatus(train)).toBe('>= 0.5 x PyTorch 1t: missed');
    expect(goalStatus({ ...train, emrl: 20_000 })).toBe('>= 0.5 x PyTorch 1t: met');
    expect(goalStatus(step)).toBe('<= 1 x PyTorch 1t: missed');
    expect(goalStatus({ ...step, emrl: 30 })).toBe('<= 1 x PyTorch 1t: met');
    expect(goalStatus({ ...step, torch1: null })).toBe('<= 1 x PyTorch 1t: -');
    expect(goalStatus({ ...step, goal: undefined })).toBe('');
    const dp: SummaryRow = { ...train, what: 'train (a), 2 threads', goal: { threads: 2, ratio: 0.8 } };
    expect(goalStatus({ ...dp, emrl: 45_000, torch1: 40_000, torch2: 50_000 })).toBe('>= 0.8 x PyTorch 2t: met');
    expect(goalStatus({ ...dp, emrl: 30_000, torch1: 40_000, torch2: 50_000 })).toBe('>= 0.8 x PyTorch 2t: missed');
    expect(goalStatus({ ...dp, emrl: 30_000, torch1: 40_000, torch2: 20_000 })).toBe('>= 0.8 x PyTorch 2t: not judged (PyTorch 2t slower than 1t here)');
  });

  it('formats one line per row with numbers, ratios and the goal', () => {
    const lines = issue15Table([train, { ...step, torch2: null }]).split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^\| what +\| unit +\| emrl +\| PyTorch 1t +\| PyTorch 2t +\| emrl \/ PyTorch 1t \| emrl \/ best PyTorch \| goal \(issue #15\) +\|$/);
    const cells = (l: string): string[] => l.split('|').slice(1, -1).map((c) => c.trim());
    expect(cells(lines[2]!)).toEqual(['train (a), 1 thread', 'tokens/s', '16,000', '40,000', '50,000', '0.40', '0.32', '>= 0.5 x PyTorch 1t: missed']);
    expect(cells(lines[3]!)).toEqual(['EM step', 'ms', '60.0', '30.0', '-', '2.00', '2.00', '<= 1 x PyTorch 1t: missed']);
  });

  it('maps one run to the issue rows with the issue goals, and skips what was not measured', () => {
    expect(issue15Rows({ train: [], gen: [], parallel: [], steps: [], torch: [] })).toEqual([]);
    const step = (name: StepTiming['name'], impl: StepTiming['impl'], threads: number, ms: number): StepTiming => ({ name, impl, threads, ms, rolloutMs: 0, scoreMs: 0, updateMs: 0, rows: 8, seqLen: 52, generatedTokens: 0 });
    const rows = issue15Rows({
      train: [{ name: 'train-a', shape: '2L x 96', ms: 1, tokensPerS: 100, gflops: 1 }],
      gen: [1, 16, 64]
        .map((b) => ({ name: `gen-cache-b${b}`, batch: b, ms: 1, tokensPerS: 10 * b, dispatchesPerStep: 7 as number | null, fused: true }))
        .concat([{ name: 'gen-cache-b1-unfused', batch: 1, ms: 1, tokensPerS: 5, dispatchesPerStep: 152, fused: false }])
        .concat([{ name: 'gen-nocache-b16', batch: 16, ms: 1, tokensPerS: 1, dispatchesPerStep: null, fused: true }]),
      parallel: [
        { batch: 32, workers: 2, tokensPerS: 1 },
        { batch: 64, workers: 1, tokensPerS: 2 },
        { batch: 64, workers: 2, tokensPerS: 150 },
      ],
      steps: [step('em-step', 'emrl', 1, 60), step('em-step', 'emrl', 2, 35), step('em-step', 'pytorch', 1, 30), step('em-step', 'pytorch', 2, 40), step('grpo-step', 'pytorch', 1, 300)],
      torch: [
        { threads: 1, name: 'train-a', ms: 1, tokens_per_s: 200 },
        { threads: 2, name: 'train-a', ms: 1, tokens_per_s: 250 },
        { threads: 1, name: 'gen-cache-b64', ms: 1, tokens_per_s: 320 },
      ],
    });
    const brief = rows.map((r) => [r.what.split(',')[0], r.emrl, r.torch1, r.torch2, r.goal?.threads, r.goal?.ratio]);
    expect(brief).toEqual([
      ['train (a) 2x96', 100, 200, 250, 1, 0.5],
      ['train (a)', 150, 200, 250, 2, 0.8],
      ['cached greedy decoding', 10, null, null, 1, 0.5],
      ['cached greedy decoding', 160, null, null, undefined, undefined],
      ['cached greedy decoding', 640, 320, null, 1, 1],
      ['EM step (8 rollouts', 60, 30, 40, 1, 1],
      ['EM step (8 rollouts', 35, 30, 40, 'best', 1],
    ]); // no GRPO row: emrl's GRPO step was not measured
    expect(rows.map((r) => r.unit)).toEqual(['tokens/s', 'tokens/s', 'tokens/s', 'tokens/s', 'tokens/s', 'ms', 'ms']);
    // The 2-thread step is judged against PyTorch's better thread count (here its 1 thread: 30 ms).
    expect(goalStatus(rows[6]!)).toBe('<= 1 x best PyTorch: missed');
    expect(goalStatus({ ...rows[6]!, emrl: 29 })).toBe('<= 1 x best PyTorch: met');
  });
});
