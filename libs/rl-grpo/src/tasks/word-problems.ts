/**
 * "word-problems": direct / inverse / joint / combined variation in words, in the spirit of the
 * sail problem used by one-shot RLVR and one-shot EM (arXiv 2504.20571, 2505.20282):
 *   "P varies jointly as A and the cube of V. When V is 2 and A is 3, P is 48. Find P when A is 1 and V is 4."
 *   -> `k=48/(3*2^3)=2;P=2*1*4^3=128#128$`
 * Numbers are drawn so that every shown value is exact with at most two decimals.
 */
import { z } from 'zod';
import { answersMatch, extractHashAnswer, formatAnswerNumber, parseAnswer } from './answer';
import { createTaskRng, type TaskRng } from './rng';
import type { SplitName, Task, TaskExample, Verdict } from './task';

export const VARIATION_KINDS = ['direct', 'inverse', 'joint', 'combined'] as const;
export type VariationKind = (typeof VARIATION_KINDS)[number];

export const WordProblemsConfigShape = z.object({
  kinds: z.array(z.enum(VARIATION_KINDS)).min(1).default([...VARIATION_KINDS]).meta({
    description: 'direct: y=kx^p; inverse: y=k/x^p; joint: y=k*a*b^p; combined: y=k*a/b^p.',
  }),
  pSolveForInput: z.number().min(0).max(1).default(0.25).meta({
    description: 'Probability a problem asks for an input (like the sail velocity) instead of the output.',
  }),
  noise: z.number().min(0).max(1).default(0.1).meta({
    description: 'Pretraining docs only: each step result is wrong with this probability; later steps continue from it.',
  }),
  pDirect: z.number().min(0).max(1).default(0.4).meta({
    description: "Pretraining docs only: probability a doc writes only `#g$`, g the answer of another random problem (a prompt-independent guess).",
  }),
  seed: z.number().int().default(0),
  trainSize: z.number().int().min(0).default(2000),
  testSize: z.number().int().min(0).default(200),
  probeSize: z.number().int().min(0).default(32),
  holdOutEvalFromPretraining: z.boolean().default(true),
});
export const WordProblemsConfigSchema = WordProblemsConfigShape;
export type WordProblemsConfig = z.output<typeof WordProblemsConfigSchema>;
export type WordProblemsConfigInput = z.input<typeof WordProblemsConfigSchema>;

interface Variable {
  letter: string;
  noun: string | null;
}
const VARIABLE_SETS: { out: Variable; ins: [Variable, Variable] }[] = [
  { out: { letter: 'P', noun: 'pressure' }, ins: [{ letter: 'A', noun: 'area' }, { letter: 'V', noun: 'velocity' }] },
  { out: { letter: 'F', noun: 'force' }, ins: [{ letter: 'm', noun: 'mass' }, { letter: 'd', noun: 'distance' }] },
  { out: { letter: 'y', noun: null }, ins: [{ letter: 'x', noun: null }, { letter: 'z', noun: null }] },
  { out: { letter: 'W', noun: 'weight' }, ins: [{ letter: 'L', noun: 'length' }, { letter: 'r', noun: 'radius' }] },
  { out: { letter: 'I', noun: 'intensity' }, ins: [{ letter: 'S', noun: 'strength' }, { letter: 'd', noun: 'distance' }] },
  { out: { letter: 'R', noun: 'resistance' }, ins: [{ letter: 'L', noun: 'length' }, { letter: 'D', noun: 'diameter' }] },
];
// k values: decimal-friendly for products, highly composite for quotients.
const K_PRODUCT = [0.2, 0.25, 0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10];
const K_QUOTIENT = [12, 24, 36, 48, 60, 72, 96, 100, 120, 144, 180, 240, 360];
const MAX_VALUE = 100_000;

export interface VariationProblem {
  kind: VariationKind;
  out: Variable;
  ins: { v: Variable; exp: number }[];
  k: number;
  given: number[];
  givenOut: number;
  /** 'out' or the index of the input asked for. */
  target: 'out' | number;
  /** Input values in the question (the target slot holds the answer when target is an input). */
  query: number[];
  queryOut: number;
  answer: number;
}

/** Exact with at most two decimals (up to float noise). */
function isNice(v: number): boolean {
  return Number.isFinite(v) && v > 0 && v <= MAX_VALUE && Math.abs(v * 100 - Math.round(v * 100)) < 1e-6;
}
const round2 = (v: number): number => Math.round(v * 100) / 100;
const fmt = (v: number): string => formatAnswerNumber(round2(v));
const powTerm = (value: number, exp: number): string => (Math.abs(exp) === 1 ? fmt(value) : `${fmt(value)}^${Math.abs(exp)}`);
const product = (values: number[], exps: number[]): number => values.reduce((acc, x, i) => acc * x ** (exps[i] as number), 1);

function drawProblem(rng: TaskRng, c: WordProblemsConfig): VariationProblem {
  for (;;) {
    const kind = rng.pick(c.kinds);
    const set = rng.pick(VARIABLE_SETS);
    const p = kind === 'inverse' || kind === 'combined' ? rng.range(1, 2) : rng.range(1, 3);
    const ins =
      kind === 'direct' ? [{ v: set.ins[0], exp: p }]
      : kind === 'inverse' ? [{ v: set.ins[0], exp: -p }]
      : kind === 'joint' ? [{ v: set.ins[0], exp: 1 }, { v: set.ins[1], exp: p }]
      : [{ v: set.ins[0], exp: 1 }, { v: set.ins[1], exp: -p }];
    const exps = ins.map((i) => i.exp);
    const k = rng.pick(ins.some((i) => i.exp < 0) ? K_QUOTIENT : K_PRODUCT);
    const given = ins.map(() => rng.range(2, 10));
    const givenOut = k * product(given, exps);
    if (!isNice(givenOut)) continue;
    const query = ins.map(() => rng.range(1, 12));
    if (query.every((q, i) => q === given[i])) continue;
    const queryOut = k * product(query, exps);
    if (!isNice(queryOut)) continue;
    const target: 'out' | number = rng.bernoulli(c.pSolveForInput) ? rng.int(ins.length) : 'out';
    const answer = target === 'out' ? queryOut : (query[target] as number);
    return { kind, out: set.out, ins, k, given, givenOut: round2(givenOut), target, query, queryOut: round2(queryOut), answer: round2(answer) };
  }
}

const name = (v: Variable): string => (v.noun ? `the ${v.noun} ${v.letter}` : v.letter);
const power = (v: Variable, exp: number): string =>
  Math.abs(exp) === 1 ? name(v) : `the ${Math.abs(exp) === 2 ? 'square' : 'cube'} of ${name(v)}`;
const capitalize = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

/** Problem text (no trailing newline). Clause order inside "When ..." is drawn from `rng`. */
function problemText(p: VariationProblem, rng: TaskRng): string {
  const [a, b] = p.ins;
  const subject = p.out.noun ? capitalize(name(p.out)) : p.out.letter;
  const relation =
    p.kind === 'direct' ? `varies directly as ${power(a!.v, a!.exp)}`
    : p.kind === 'inverse' ? `varies inversely as ${power(a!.v, a!.exp)}`
    : p.kind === 'joint' ? `varies jointly as ${power(a!.v, a!.exp)} and ${power(b!.v, b!.exp)}`
    : `varies directly as ${power(a!.v, a!.exp)} and inversely as ${power(b!.v, b!.exp)}`;
  const clauses = (pairs: [string, number][]): string => {
    const order = pairs.length === 2 && rng.bernoulli(0.5) ? [pairs[1]!, pairs[0]!] : pairs;
    return order.map(([l, v]) => `${l} is ${fmt(v)}`).join(' and ');
  };
  const givenPairs = p.ins.map((i, j): [string, number] => [i.v.letter, p.given[j] as number]);
  const when = `When ${clauses(givenPairs)}, ${p.out.letter} is ${fmt(p.givenOut)}.`;
  let find: string;
  if (p.target === 'out') {
    find = `Find ${p.out.letter} when ${clauses(p.ins.map((i, j): [string, number] => [i.v.letter, p.query[j] as number]))}.`;
  } else {
    const t = p.target;
    const known: [string, number][] = [[p.out.letter, p.queryOut], ...p.ins.flatMap((i, j): [string, number][] => (j === t ? [] : [[i.v.letter, p.query[j] as number]]))];
    find = `Find ${p.ins[t]!.v.letter} when ${known.map(([l, v]) => `${l} is ${fmt(v)}`).join(' and ')}.`;
  }
  return `${subject} ${relation}. ${when} ${find}`;
}

const quotient = (num: string[], den: string[]): string =>
  den.length === 0 ? num.join('*') : `${num.join('*')}/${den.length > 1 ? `(${den.join('*')})` : den[0]}`;

/**
 * Solution steps and final answer. `corrupt` (pretraining noise) may replace each step's result;
 * later steps are recomputed from the shown value and rounded to two decimals.
 */
function solve(p: VariationProblem, corrupt?: (v: number) => number): { steps: string[]; answer: number } {
  const steps: string[] = [];
  const shown = (v: number): number => {
    const r = round2(v);
    return corrupt ? corrupt(r) : r;
  };
  const terms = (values: number[], sign: 1 | -1, skip = -1): string[] =>
    p.ins.flatMap((i, j) => (j !== skip && Math.sign(i.exp) === sign ? [powTerm(values[j] as number, i.exp)] : []));
  const factor = (values: number[], sign: 1 | -1, skip = -1): number =>
    p.ins.reduce((acc, i, j) => (j !== skip && Math.sign(i.exp) === sign ? acc * (values[j] as number) ** Math.abs(i.exp) : acc), 1);

  const k = shown((p.givenOut * factor(p.given, -1)) / factor(p.given, 1));
  steps.push(`k=${quotient([fmt(p.givenOut), ...terms(p.given, -1)], terms(p.given, 1))}=${fmt(k)}`);
  if (p.target === 'out') {
    const v = shown((k * factor(p.query, 1)) / factor(p.query, -1));
    steps.push(`${p.out.letter}=${quotient([fmt(k), ...terms(p.query, 1)], terms(p.query, -1))}=${fmt(v)}`);
    return { steps, answer: v };
  }
  const t = p.target;
  const { v: x, exp } = p.ins[t]!;
  const q = Math.abs(exp);
  // out = k * X^exp * rest  ->  X^q = out*rest_neg/(k*rest_pos)  (exp > 0)  or  k*rest_pos/(out*rest_neg)  (exp < 0)
  const outTerm = fmt(p.queryOut);
  const num = exp > 0 ? [outTerm, ...terms(p.query, -1, t)] : [fmt(k), ...terms(p.query, 1, t)];
  const den = exp > 0 ? [fmt(k), ...terms(p.query, 1, t)] : [outTerm, ...terms(p.query, -1, t)];
  const numV = exp > 0 ? p.queryOut * factor(p.query, -1, t) : k * factor(p.query, 1, t);
  const denV = exp > 0 ? k * factor(p.query, 1, t) : p.queryOut * factor(p.query, -1, t);
  const powered = shown(numV / denV);
  steps.push(`${x.letter}${q > 1 ? `^${q}` : ''}=${quotient(num, den)}=${fmt(powered)}`);
  if (q === 1) return { steps, answer: powered };
  const root = shown(q === 2 ? Math.sqrt(powered) : Math.cbrt(powered));
  steps.push(`${x.letter}=${q === 2 ? 'sqrt' : 'cbrt'}(${fmt(powered)})=${fmt(root)}`);
  return { steps, answer: root };
}

/** A wrong but plausible value: +-1..2 for integers, +-0.1..0.2 otherwise; never the same, never <= 0. */
function corruptValue(v: number, rng: TaskRng): number {
  const unit = Number.isInteger(v) ? 1 : 0.1;
  const delta = rng.pick([-2, -1, 1, 2]) * unit;
  const w = round2(v + delta);
  return w > 0 ? w : round2(v + Math.abs(delta));
}

const STEP_RE = /^[A-Za-z](\^\d)?=[^;#$=]+(=[^;#$=]+)*$/;

export class WordProblemsTask implements Task {
  readonly name = 'word-problems';
  readonly config: WordProblemsConfig;
  readonly stopSequences = ['$'] as const;
  /** Upper bound on completion length; the tests check every generated completion against it. */
  readonly maxCompletionLength = 96;
  readonly promptLength: number;
  private readonly splits: Record<SplitName, TaskExample[]>;
  private readonly problems = new Map<string, VariationProblem>();

  constructor(config: WordProblemsConfigInput = {}) {
    const parsed = WordProblemsConfigSchema.safeParse(config);
    if (!parsed.success) throw new Error(`word-problems task config: ${z.prettifyError(parsed.error)}`);
    this.config = parsed.data;
    this.splits = this.buildSplits();
    this.promptLength = Math.max(0, ...Object.values(this.splits).flat().map((e) => e.prompt.length));
  }

  private buildSplits(): Record<SplitName, TaskExample[]> {
    const c = this.config;
    const seen = new Set<string>();
    const out = {} as Record<SplitName, TaskExample[]>;
    const order: [SplitName, number][] = [['test', c.testSize], ['probe', c.probeSize], ['train', c.trainSize]];
    for (const [split, size] of order) {
      const rng = createTaskRng(c.seed, 'word-problems', split);
      const examples: TaskExample[] = [];
      let attempts = 0;
      while (examples.length < size) {
        if (++attempts > 100 * size + 1000) throw new Error(`word-problems: could draw only ${examples.length} of ${size} distinct '${split}' problems; lower the split sizes`);
        const p = drawProblem(rng, c);
        const prompt = `${problemText(p, rng)}\n`;
        if (seen.has(prompt)) continue;
        seen.add(prompt);
        const id = `word-problems-${split}-${examples.length}`;
        this.problems.set(id, p);
        examples.push({ id, prompt, answer: fmt(p.answer), meta: { kind: p.kind, target: p.target === 'out' ? p.out.letter : p.ins[p.target]!.v.letter } });
      }
      out[split] = examples;
    }
    return out;
  }

  split(name: SplitName): readonly TaskExample[] {
    return this.splits[name];
  }

  extractAnswer(completion: string): string | null {
    return extractHashAnswer(completion);
  }

  verify(completion: string, example: TaskExample): Verdict {
    const extracted = this.extractAnswer(completion);
    return { correct: extracted !== null && answersMatch(extracted, example.answer), extracted, formatOk: extracted !== null };
  }

  /** The structured problem behind one of this task's examples (undefined for foreign examples). */
  problemOf(example: TaskExample): VariationProblem | undefined {
    return this.problems.get(example.id);
  }

  referenceCompletion(example: TaskExample): string {
    const p = this.problems.get(example.id);
    if (!p) throw new Error(`word-problems: '${example.id}' is not an example of this task instance; use one of its split() examples`);
    const { steps, answer } = solve(p);
    return `${steps.join(';')}#${fmt(answer)}$`;
  }

  /** Prompt+completion docs: direct `#g$` (g = another random problem's answer) with pDirect, else noisy steps. */
  pretrainingDocuments(count: number, seed: number): string[] {
    const c = this.config;
    const rng = createTaskRng(seed, 'word-problems', 'pretrain');
    const held = new Set<string>();
    if (c.holdOutEvalFromPretraining) for (const e of [...this.splits.test, ...this.splits.probe]) held.add(e.prompt);
    const docs: string[] = [];
    let attempts = 0;
    while (docs.length < count) {
      if (++attempts > 100 * count + 1000) throw new Error('word-problems: pretraining problems exhausted by the held-out splits');
      const p = drawProblem(rng, c);
      const prompt = `${problemText(p, rng)}\n`;
      if (held.has(prompt)) continue;
      if (rng.bernoulli(c.pDirect)) {
        docs.push(`${prompt}#${fmt(drawProblem(rng, c).answer)}$`);
      } else {
        const { steps, answer } = solve(p, (v) => (c.noise > 0 && rng.bernoulli(c.noise) ? corruptValue(v, rng) : v));
        docs.push(`${prompt}${steps.join(';')}#${fmt(answer)}$`);
      }
    }
    return docs;
  }

  /** direct: answer with no steps; steps: `name=...` steps before `#`; wellFormed: grammar incl. a numeric answer and `$`. */
  describeCompletion(completion: string, _example: TaskExample): Record<string, number> {
    const stop = completion.indexOf('$');
    const head = stop < 0 ? completion : completion.slice(0, stop);
    const hash = head.lastIndexOf('#');
    const body = hash < 0 ? head : head.slice(0, hash);
    const parts = body.length > 0 ? body.split(';') : [];
    const steps = parts.filter((s) => STEP_RE.test(s)).length;
    const answerOk = hash >= 0 && parseAnswer(head.slice(hash + 1)).value !== null;
    const wellFormed = stop >= 0 && answerOk && steps === parts.length && head.indexOf('#') === hash;
    return { direct: hash === 0 && stop >= 0 ? 1 : 0, steps, wellFormed: wellFormed ? 1 : 0 };
  }
}

export function createWordProblemsTask(config: WordProblemsConfigInput = {}): WordProblemsTask {
  return new WordProblemsTask(config);
}

