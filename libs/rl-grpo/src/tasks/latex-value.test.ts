import { describe, expect, it } from 'vitest';
import { latexValue } from './latex-value';

describe('latexValue', () => {
  it.each([
    ['\\frac{\\sqrt{3}}{2}', Math.sqrt(3) / 2],
    ['\\dfrac{\\sqrt3}{2}', Math.sqrt(3) / 2],
    ['\\frac12\\sqrt{3}', Math.sqrt(3) / 2],
    ['2\\pi', 2 * Math.PI],
    ['\\frac{\\pi}{4}', Math.PI / 4],
    ['\\frac\\pi2', Math.PI / 2],
    ['3\\sqrt{2}', 3 * Math.SQRT2],
    ['\\sqrt[3]{16}', Math.cbrt(16)],
    ['2^{10}', 1024],
    ['2^3', 8],
    ['-\\frac{1}{2}', -0.5],
    ['6 \\times 10^{14}', 6e14],
    ['1 - \\sqrt{2} \\cdot \\sqrt{2}', 1 - Math.SQRT2 * Math.SQRT2],
    ['(1+\\sqrt{5})/2', (1 + Math.sqrt(5)) / 2],
    ['\\left(2\\right)\\pi', 2 * Math.PI],
    ['-\\infty', -Infinity],
  ])('%s = %d', (text, value) => {
    expect(latexValue(text)).toBeCloseTo(value, 12);
  });

  it.each(['x + 1', '\\sin(x)', '(1, 2)', '2e', '\\frac{1}', '', '\\sqrt{}', '3!'])('%s has no value', (text) => {
    expect(latexValue(text)).toBeNull();
  });
});
