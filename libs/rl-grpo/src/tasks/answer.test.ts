import { describe, expect, it } from 'vitest';
import {
  answersMatch,
  extractAnswer,
  extractBoxedAnswer,
  extractHashAnswer,
  extractPhraseAnswer,
  normalizeAnswer,
  parseAnswer,
} from './answer';

describe('extractHashAnswer', () => {
  it.each([
    ['3+5=8;8*2=6#6$', '6'],
    ['#7$', '7'],
    ['a#1;b#12.8$', '12.8'], // last # before the stop
    ['#9$3+4=7#7$', '9'], // the first $ ends the completion
    ['3+5=8#8', null], // no stop: truncated
    ['3+5=8$', null], // no #
    ['#$', null], // empty answer
  ])('%s -> %s', (completion, expected) => {
    expect(extractHashAnswer(completion)).toBe(expected);
  });
});

describe('extractBoxedAnswer', () => {
  it.each([
    ['so $\\boxed{12.8}$.', '12.8'],
    ['\\boxed{\\frac{64}{5}}', '\\frac{64}{5}'],
    ['first \\boxed{1} then \\boxed{\\{1, 2\\}}', '\\{1, 2\\}'],
    ['\\boxed{x^{2^{3}}}', 'x^{2^{3}}'],
    ['\\boxed 5 apples', '5'],
    ['\\fbox{7}', '7'],
    ['\\boxed{\\frac{1}{2}', null], // unbalanced (truncated)
    ['no box here', null],
  ])('%s -> %s', (completion, expected) => {
    expect(extractBoxedAnswer(completion)).toBe(expected);
  });
});

describe('extractPhraseAnswer', () => {
  it.each([
    ['The answer is $12.8$ mph.', '$12.8$ mph'],
    ['Reasoning...\nThe final answer is 12.8. I hope it is correct.', '12.8'],
    ['Answer: 42', '42'],
    ['answer: 3.5\nmore text', '3.5'],
    ['the answer is unclear; the answer is 7', '7'],
    ['nothing', null],
  ])('%s -> %s', (completion, expected) => {
    expect(extractPhraseAnswer(completion)).toBe(expected);
  });
});

describe('extractAnswer auto', () => {
  it('prefers boxed, then a tight #..$, then a phrase', () => {
    expect(extractAnswer('The answer is 3. \\boxed{4}')).toBe('4');
    expect(extractAnswer('k=2;P=128#128$')).toBe('128');
    expect(extractAnswer('The answer is $12.8$ mph')).toBe('$12.8$ mph');
  });
  it('does not read markdown headers as #..$ answers', () => {
    expect(extractAnswer('# Step 1: compute $x$\nThe answer is 5')).toBe('5');
    expect(extractAnswer('## Solution $x=2$')).toBeNull();
  });
  it('honours an explicit format', () => {
    expect(extractAnswer('\\boxed{3} #4$', 'hash')).toBe('4');
    expect(extractAnswer('\\boxed{3} #4$', 'boxed')).toBe('3');
  });
});

describe('normalizeAnswer', () => {
  it.each([
    ['12.80', '12.8'],
    ['12.0', '12'],
    [' 12 ', '12'],
    ['1,000', '1000'],
    ['1{,}000', '1000'],
    ['\\frac{64}{5}', '12.8'],
    ['\\dfrac{64}{5}', '12.8'],
    ['\\tfrac{3}{4}', '0.75'],
    ['\\frac34', '0.75'],
    ['3/4', '0.75'],
    ['-\\frac{1}{2}', '-0.5'],
    ['\\frac{-1}{2}', '-0.5'],
    ['$12.8$', '12.8'],
    ['\\(12.8\\)', '12.8'],
    ['\\boxed{12.8}', '12.8'],
    ['12.8 mph', '12.8'],
    ['12.8 miles per hour', '12.8'],
    ['12.8\\text{ mph}', '12.8'],
    ['\\text{12.8 mph}', '12.8'],
    ['5 \\text{cm}^2', '5'],
    ['\\$12.80', '12.8'],
    ['V = 12.8', '12.8'],
    ['x=\\frac{1}{4}', '0.25'],
    ['90^\\circ', '90'],
    ['\\left( 1, 2 \\right)', '(1,2)'],
    ['\\text{Saturday}', 'saturday'],
    ['\u221212', '-12'],
  ])('%s -> %s', (raw, expected) => {
    expect(normalizeAnswer(raw)).toBe(expected);
  });

  it('keeps non-units as text', () => {
    expect(parseAnswer('3 and 4').value).toBeNull();
    expect(parseAnswer('2x').value).toBeNull();
    expect(parseAnswer('\\sqrt{2}').value).toBeNull();
  });

  it('flags percent', () => {
    expect(parseAnswer('25\\%')).toEqual({ text: '25', value: 25, percent: true });
  });
});

describe('answersMatch', () => {
  it.each([
    // the sail problem's reference answer, every way a model writes it
    ['12.8', '\\boxed{12.8}'],
    ['12.8', '\\frac{64}{5}'],
    ['12.8', '\\dfrac{64}{5}'],
    ['12.8', '$12.8$ mph'],
    ['12.8', '12.80'],
    ['12.8', '12.8 miles per hour'],
    ['1000', '1,000'],
    ['0.75', '3/4'],
    ['\\frac{3}{8}', '0.375'],
    ['25\\%', '25'],
    ['25%', '0.25'],
    ['(-2, 2)', '(-2,2)'],
    ['\\text{Saturday}', 'Saturday'],
  ])('%s ~ %s', (a, b) => {
    expect(answersMatch(a, b)).toBe(true);
    expect(answersMatch(b, a)).toBe(true);
  });

  it.each([
    ['12.8', '12.7'],
    ['12.8', '128'],
    ['12.8', '1.28'],
    ['0.75', '3/5'],
    ['1000', '1,001'],
    ['(-2, 2)', '[-2, 2]'],
    ['12.8', ''],
    ['', ''],
  ])('%s !~ %s', (a, b) => {
    expect(answersMatch(a, b)).toBe(false);
  });

  it('applies tolerances only when asked', () => {
    expect(answersMatch('1/3', '0.333')).toBe(false);
    expect(answersMatch('1/3', '0.333', { tolerance: 1e-2 })).toBe(true);
    expect(answersMatch('12.7', '12.8', { tolerance: { absolute: 0.05 } })).toBe(false);
    expect(answersMatch('12.7', '12.8', { tolerance: { absolute: 0.1 + 1e-12 } })).toBe(true);
    // the exact sail answer is cbrt(2048) = 12.699...; a 1% relative tolerance accepts 12.8
    expect(answersMatch(String(Math.cbrt(2048)), '12.8', { tolerance: 0.01 })).toBe(true);
  });
});

describe('answersMatch: closed forms, tuples, intervals, sets', () => {
  it.each([
    ['\\frac{\\sqrt{3}}{2}', '\\dfrac{\\sqrt3}{2}'],
    ['\\frac{\\sqrt{2}}{2}', '\\frac{1}{\\sqrt{2}}'],
    ['2\\pi', '2 \\pi'],
    ['\\frac{\\pi}{2}', '\\pi/2'],
    ['(1, \\frac{1}{2})', '(1, 0.5)'],
    ['[0, \\infty)', '[0,\\infty)'],
    ['(-\\infty, 0) \\cup (1, \\infty)', '(-\\infty,0)\\cup(1,\\infty)'],
    ['\\{1, 2, 3\\}', '\\{3, 1, 2\\}'],
    ['2, -3', '-3, 2'],
    ['9\\pi', '9\\pi \\text{ cm}^2'],
  ])('%s ~ %s', (a, b) => {
    expect(answersMatch(a, b)).toBe(true);
    expect(answersMatch(b, a)).toBe(true);
  });

  it.each([
    ['\\frac{\\sqrt{3}}{2}', '\\frac{\\sqrt{2}}{2}'],
    ['\\sqrt{2}', '1.414'], // a rounded decimal is not the closed form (unless a tolerance says so)
    ['(1, 2)', '(2, 1)'],
    ['(1, 2)', '[1, 2]'],
    ['(1, 2)', '(1, 2, 3)'],
    ['[0, \\infty)', '(0, \\infty)'],
    ['\\{1, 2\\}', '(1, 2)'],
    ['2, -3', '2'],
    ['x + 1', 'x + 2'],
  ])('%s !~ %s', (a, b) => {
    expect(answersMatch(a, b)).toBe(false);
    expect(answersMatch(b, a)).toBe(false);
  });

  it('a tolerance applies to closed forms and to each element', () => {
    expect(answersMatch('\\sqrt{2}', '1.414', { tolerance: 1e-3 })).toBe(true);
    expect(answersMatch('(\\pi, 1)', '(3.1416, 1)', { tolerance: 1e-4 })).toBe(true);
  });
});
