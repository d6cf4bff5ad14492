import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runExample } from '../examples/grpo-with-entropy-bonus';

// The rl-grpo README's example, run as a user would (few steps to stay fast).
describe('examples/grpo-with-entropy-bonus.ts', () => {
  it('trains the embedded model with the entropy bonus, streams events, evaluates before and after', async () => {
    expect(existsSync('models/modchain-byte/config.json') || existsSync('../models/modchain-byte/config.json')).toBe(true);
    const lines: string[] = [];
    const { before, after, events } = await runExample({ steps: 2, log: (l) => lines.push(l) });
    const kinds = events.map((e) => e.type);
    expect(kinds[0]).toBe('started');
    expect(kinds.at(-1)).toBe('finished');
    expect(events.filter((e) => e.type === 'metrics')).toHaveLength(2);
    const metrics = events.find((e) => e.type === 'metrics');
    expect(metrics && metrics.type === 'metrics' && metrics.metrics['entropy-bonus/coef']).toBe(0.001);
    expect(before.byTemperature.map((r) => r.temperature)).toEqual([0, 1]);
    expect(after.numPrompts).toBe(64);
    expect(lines.some((l) => l.startsWith('T=0: accuracy'))).toBe(true);
  });
});
