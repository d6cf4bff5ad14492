import { describe, expect, it } from 'vitest';
import { bestTorch, goalStatus, issue15Table, ratioOf, type SummaryRow } from './issue15-table';

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
  });

  it('formats one line per row with numbers, ratios and the goal', () => {
    const lines = issue15Table([train, { ...step, torch2: null }]).split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^\| what +\| unit +\| emrl +\| PyTorch 1t +\| PyTorch 2t +\| emrl \/ PyTorch 1t \| emrl \/ best PyTorch \| goal \(issue #15\) +\|$/);
    const cells = (l: string): string[] => l.split('|').slice(1, -1).map((c) => c.trim());
    expect(cells(lines[2]!)).toEqual(['train (a), 1 thread', 'tokens/s', '16,000', '40,000', '50,000', '0.40', '0.32', '>= 0.5 x PyTorch 1t: missed']);
    expect(cells(lines[3]!)).toEqual(['EM step', 'ms', '60.0', '30.0', '-', '2.00', '2.00', '<= 1 x PyTorch 1t: missed']);
  });
});
