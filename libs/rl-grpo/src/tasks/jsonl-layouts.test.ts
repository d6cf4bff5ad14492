// Hand-written samples (our own problems) in the field layouts of MATH500, Minerva Math,
// OlympiadBench and AMC23, loaded by `format: <name>` and graded in each dataset's answer style.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadJsonlTask, parseJsonlTask } from './jsonl';

const fixture = (name: string): string => fileURLToPath(new URL(`../../fixtures/${name}`, import.meta.url));
const byId = (task: ReturnType<typeof loadJsonlTask>, id: string) => task.split('test').find((e) => e.id === id)!;

describe('format: math500', () => {
  const task = loadJsonlTask(fixture('math500-sample.jsonl'), { format: 'math500', split: 'test' });

  it('reads problem / answer / unique_id and keeps subject and level', () => {
    const ex = byId(task, 'test/algebra/9001.json');
    expect(ex.prompt).toBe('Simplify $\\sqrt{12} \\cdot \\frac{1}{4}$.');
    expect(ex.answer).toBe('\\frac{\\sqrt{3}}{2}');
    expect(ex.meta).toMatchObject({ subject: 'Algebra', level: 2 });
  });

  it.each([
    ['test/algebra/9001.json', 'so the answer is $\\boxed{\\dfrac{\\sqrt3}{2}}$', true],
    ['test/algebra/9001.json', '\\boxed{\\frac{1}{2}\\sqrt{3}}', true],
    ['test/algebra/9001.json', '\\boxed{\\frac{\\sqrt{2}}{2}}', false],
    ['test/intermediate_algebra/9002.json', '\\boxed{\\left(-2, 2\\right)}', true],
    ['test/intermediate_algebra/9002.json', '\\boxed{[-2, 2]}', false],
    ['test/geometry/9003.json', 'Area $= \\boxed{9 \\pi}$', true],
    ['test/geometry/9003.json', '\\boxed{9\\pi \\text{ square units}}', true],
    ['test/geometry/9003.json', '\\boxed{3\\pi}', false],
    ['test/algebra/9004.json', '\\boxed{(1,2)}', true],
    ['test/algebra/9004.json', '\\boxed{(2, 1)}', false],
    ['test/prealgebra/9005.json', '\\boxed{\\frac12}', true],
    ['test/prealgebra/9005.json', '\\boxed{0.5}', true],
  ])('%s: %s -> %s', (id, completion, correct) => {
    expect(task.verify(completion, byId(task, id)).correct).toBe(correct);
  });
});

describe('format: minerva-math', () => {
  const task = loadJsonlTask(fixture('minerva-math-sample.jsonl'), { format: 'minerva-math', split: 'test' });

  it("takes the answer from the solution's last \\boxed{}", () => {
    expect(task.split('test').map((e) => e.answer)).toEqual(['2', '12.5\\%', '6e14']);
    expect(task.split('test')[0]!.id).toBe('minerva-math-sample-1');
  });

  it.each([
    [0, 'It takes \\boxed{2 \\text{ s}}', true],
    [0, 'It takes \\boxed{2\\,\\mathrm{s}}', true],
    [0, '\\boxed{4}', false],
    [1, '\\boxed{12.5\\%}', true],
    [1, '\\boxed{0.125}', true],
    [1, '\\boxed{\\frac{1}{8}}', true],
    [2, '\\boxed{6 \\times 10^{14}}', true],
    [2, '\\boxed{6\\times10^{14}\\ \\mathrm{Hz}}', true],
    [2, '\\boxed{6e13}', false],
  ])('line %i: %s -> %s', (i, completion, correct) => {
    expect(task.verify(completion, task.split('test')[i]!).correct).toBe(correct);
  });

  it('says what to do when a solution has no boxed answer', () => {
    expect(() => parseJsonlTask('{"problem": "p", "solution": "no box"}', 'm.jsonl', { format: 'minerva-math', split: 'test' })).toThrow(
      /m\.jsonl:1: field 'solution' has no \\boxed\{\.\.\.\} final answer; set answerField/,
    );
  });
});

describe('format: olympiadbench', () => {
  const task = loadJsonlTask(fixture('olympiadbench-sample.jsonl'), { format: 'olympiadbench', split: 'test' });

  it('reads question / final_answer (a list) / id', () => {
    expect(byId(task, '9101').answer).toBe('$3$, $-2$');
    expect(byId(task, '9101').prompt).toBe('Find all real numbers $x$ such that $x^2 - x - 6 = 0$.');
    expect(byId(task, '9103').meta).toMatchObject({ unit: 'm/s', answer_type: 'Numerical' });
  });

  it.each([
    ['9101', '\\boxed{3, -2}', true],
    ['9101', '\\boxed{-2, 3}', true], // several answers in any order
    ['9101', '\\boxed{3}', false],
    ['9102', '\\boxed{\\sqrt{2}}', true],
    ['9102', '\\boxed{\\sqrt2}', true],
    ['9102', '\\boxed{\\frac{2}{\\sqrt{2}}}', true],
    ['9102', '\\boxed{1.414}', false],
    ['9103', '\\boxed{7.5 \\mathrm{~m/s}}', true],
    ['9103', 'The answer is $7.5$ m/s.', true],
    ['9104', '\\boxed{(-\\infty, -1] \\cup [3, \\infty)}', true],
    ['9104', '\\boxed{(-\\infty, -1) \\cup [3, \\infty)}', false],
    ['9104', '\\boxed{[3, \\infty) \\cup (-\\infty, -1]}', false], // unions compare in order
  ])('%s: %s -> %s', (id, completion, correct) => {
    expect(task.verify(completion, byId(task, id)).correct).toBe(correct);
  });
});

describe('format: amc23', () => {
  const task = loadJsonlTask(fixture('amc23-sample.jsonl'), { format: 'amc23', split: 'test' });

  it('reads question / numeric answer / id', () => {
    expect(task.split('test').map((e) => [e.id, e.answer])).toEqual([['0', '9'], ['1', '7'], ['2', '2']]);
  });

  it.each([
    ['0', '\\boxed{9}', true],
    ['0', 'The answer is 9.', true],
    ['1', '\\boxed{7.0}', true],
    ['2', '\\boxed{1024}', false],
  ])('%s: %s -> %s', (id, completion, correct) => {
    expect(task.verify(completion, byId(task, id)).correct).toBe(correct);
  });
});

describe('layout errors', () => {
  it('name the dataset field that is missing', () => {
    expect(() => parseJsonlTask('{"query": "p", "final_answer": ["1"]}', 'o.jsonl', { format: 'olympiadbench', split: 'test' })).toThrow(
      "o.jsonl:1: field 'question' or 'problem' or 'prompt' is missing; set problemField if your file names it differently",
    );
    expect(() => parseJsonlTask('{"question": "q", "final": "1"}', 'o.jsonl', { format: 'olympiadbench', split: 'test' })).toThrow(
      "o.jsonl:1: field 'final_answer' or 'answer' is missing; set answerField if your file names it differently",
    );
    expect(() => parseJsonlTask('{"question": "q", "final_answer": []}', 'o.jsonl', { format: 'olympiadbench', split: 'test' })).toThrow(
      /field 'final_answer' must be a string, a number or a list of them \(got array\)/,
    );
  });

  it('a dataset format also reads generic lines (the paper prompt next to a benchmark file)', () => {
    const sail = '{"problem": "Find V.", "answer": "12.8"}';
    for (const format of ['math500', 'minerva-math', 'olympiadbench', 'amc23'] as const) {
      expect(parseJsonlTask(sail, 'sail.jsonl', { format, split: 'train' }).split('train')[0], format).toMatchObject({ id: 'sail-1', prompt: 'Find V.', answer: '12.8' });
    }
    // An explicit idField is required on every line.
    expect(() => parseJsonlTask(sail, 'sail.jsonl', { idField: 'uid', split: 'train' })).toThrow(/field 'uid' is missing; set idField/);
  });

  it('explicit field options override the layout', () => {
    const t = parseJsonlTask('{"question": "q", "final": "4", "id": 5}', 'a.jsonl', { format: 'amc23', answerField: 'final', split: 'test' });
    expect(t.split('test')[0]).toMatchObject({ id: '5', answer: '4' });
  });
});
