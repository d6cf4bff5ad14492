/**
 * The numeric value of a closed-form LaTeX answer such as `\frac{\sqrt{3}}{2}`, `2\pi`, `3\sqrt2`,
 * `\sqrt[3]{16}`, `2^{10}` or `-\infty`, so graders compare `\dfrac{\sqrt3}{2}` with
 * `\frac{1}{2}\sqrt{3}` by value (as MATH / Minerva graders compare by sympy equivalence). A small
 * recursive-descent parser over whitespace-free text; anything it does not know (variables,
 * functions) gives null and the caller falls back to comparing text.
 */

const COMMANDS_TIMES = ['\\cdot', '\\times'];

class LatexParser {
  private i = 0;

  constructor(private readonly s: string) {}

  parse(): number | null {
    const v = this.expr();
    return v !== null && this.i === this.s.length ? v : null;
  }

  private peek(word: string): boolean {
    return this.s.startsWith(word, this.i);
  }

  private eat(word: string): boolean {
    if (!this.peek(word)) return false;
    this.i += word.length;
    return true;
  }

  private expr(): number | null {
    let v = this.term();
    while (v !== null && (this.peek('+') || this.peek('-'))) {
      const op = this.s[this.i++];
      const r = this.term();
      if (r === null) return null;
      v = op === '+' ? v + r : v - r;
    }
    return v;
  }

  /** Products and quotients, explicit (`*`, `/`, `\cdot`, `\times`) or implicit (`2\pi`, `3\sqrt{2}`). */
  private term(): number | null {
    let v = this.unary();
    while (v !== null) {
      if (this.eat('*') || COMMANDS_TIMES.some((c) => this.eat(c))) {
        const r = this.unary();
        if (r === null) return null;
        v *= r;
      } else if (this.eat('/')) {
        const r = this.unary();
        if (r === null) return null;
        v /= r;
      } else if (this.startsAtom()) {
        const r = this.power();
        if (r === null) return null;
        v *= r;
      } else break;
    }
    return v;
  }

  private unary(): number | null {
    if (this.eat('-')) {
      const v = this.unary();
      return v === null ? null : -v;
    }
    if (this.eat('+')) return this.unary();
    return this.power();
  }

  private power(): number | null {
    const base = this.atom();
    if (base === null || !this.eat('^')) return base;
    const exp = this.peek('{') ? this.group() : this.singleDigit();
    return exp === null ? null : Math.pow(base, exp);
  }

  private startsAtom(): boolean {
    const c = this.s[this.i];
    return c !== undefined && (/[\d.({]/.test(c) || ['\\pi', '\\sqrt', '\\frac', '\\infty'].some((w) => this.peek(w)));
  }

  private atom(): number | null {
    const num = /^(\d+\.?\d*|\.\d+)/.exec(this.s.slice(this.i));
    if (num) {
      this.i += num[0].length;
      return Number(num[0]);
    }
    if (this.eat('\\pi')) return Math.PI;
    if (this.eat('\\infty')) return Infinity;
    if (this.eat('\\frac')) {
      const a = this.arg();
      const b = a === null ? null : this.arg();
      return a === null || b === null ? null : a / b;
    }
    if (this.eat('\\sqrt')) {
      let n = 2;
      if (this.eat('[')) {
        const k = this.expr();
        if (k === null || !this.eat(']')) return null;
        n = k;
      }
      const x = this.arg();
      if (x === null) return null;
      return n === 3 ? Math.cbrt(x) : Math.pow(x, 1 / n);
    }
    if (this.peek('(') || this.peek('{')) return this.group();
    return null;
  }

  /** `{expr}`, `(expr)` */
  private group(): number | null {
    const open = this.s[this.i];
    const close = open === '(' ? ')' : open === '{' ? '}' : null;
    if (close === null) return null;
    this.i++;
    const v = this.expr();
    return v !== null && this.eat(close) ? v : null;
  }

  /** A command argument: `{expr}` or one character (`\frac34`, `\sqrt2`, `\frac\pi2`). */
  private arg(): number | null {
    if (this.peek('{')) return this.group();
    if (this.eat('\\pi')) return Math.PI;
    return this.singleDigit();
  }

  private singleDigit(): number | null {
    const c = this.s[this.i];
    if (c === undefined || !/\d/.test(c)) return null;
    this.i++;
    return Number(c);
  }
}

/** The value of a closed-form LaTeX number (see the file comment), or null. Whitespace is ignored. */
export function latexValue(text: string): number | null {
  const s = text.replace(/\s+/g, '').replace(/\\[dt]frac/g, '\\frac').replace(/\\left|\\right/g, '');
  if (s === '') return null;
  const v = new LatexParser(s).parse();
  return v === null || Number.isNaN(v) ? null : v;
}
