import { describe, expect, it } from 'vitest';
import { cutAtStopString, StopStringMatcher } from './stop-strings';

// A toy vocabulary whose tokens spell several characters, so stop strings span and split tokens.
const VOCAB = ['', 'ab', 'cd</', 'answer>x', '\n', '\nProblem', ':', 'é'.slice(0, 1), 'zz'];
const decode = (ids: number[]) => ids.map((i) => VOCAB[i]!).join('');

describe('StopStringMatcher', () => {
  it('matches a string spelled across tokens, and one that ends inside a longer token', () => {
    const m = new StopStringMatcher({ strings: ['</answer>'], decode });
    expect(m.matches([1, 2])).toBe(false);
    expect(m.matches([1, 2, 3])).toBe(true); // "ab" "cd</" "answer>x"
    const p = new StopStringMatcher({ strings: ['\n\nProblem:'], decode });
    expect(p.matches([1, 4, 5])).toBe(false);
    expect(p.matches([1, 4, 5, 6])).toBe(true);
  });

  it('finds the string after a long completion (only the newest tokens are decoded)', () => {
    const seen: number[] = [];
    const m = new StopStringMatcher({ strings: ['</answer>'], decode: (ids) => (seen.push(ids.length), decode(ids)) });
    const long = [...new Array<number>(500).fill(8), 1, 2, 3];
    expect(m.matches(long)).toBe(true);
    expect(Math.max(...seen)).toBeLessThan(50);
    expect(m.matches(new Array<number>(500).fill(8))).toBe(false);
  });

  it('no strings (or only empty ones) never match', () => {
    expect(new StopStringMatcher({ strings: [], decode }).matches([1, 2, 3])).toBe(false);
    expect(new StopStringMatcher({ strings: [''], decode }).active).toBe(false);
  });
});

describe('cutAtStopString', () => {
  it('keeps the text up to and including the earliest stop string', () => {
    expect(cutAtStopString('x = 4</answer>x trailing', ['</answer>'])).toBe('x = 4</answer>');
    expect(cutAtStopString('a$b\n\nc', ['\n\n', '$'])).toBe('a$');
    expect(cutAtStopString('no stop here', ['$'])).toBe('no stop here');
  });
});
