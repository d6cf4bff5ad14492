import { describe, expect, it } from 'vitest';
import { median, table } from './stats';
import { trainFlopsPerToken } from './model-bench';

describe('bench helpers', () => {
  it('median of odd and even lists', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow(/empty/);
  });

  it('FLOPs per token follow 6 * (12 L D^2 + V D) + 12 L T D', () => {
    // (a): 2 layers, D 96, T 51, V 258 -> 6 * (221184 + 24768) + 117504
    expect(trainFlopsPerToken({ name: 'a', layers: 2, width: 96, heads: 4, batch: 64, seq: 51 })).toBe(6 * (12 * 2 * 96 * 96 + 258 * 96) + 12 * 2 * 51 * 96);
  });

  it('table aligns columns', () => {
    const t = table(['a', 'bb'], [['xyz', '1']]).split('\n');
    expect(t[0]).toBe('| a   | bb |');
    expect(t[2]).toBe('| xyz | 1  |');
  });
});
