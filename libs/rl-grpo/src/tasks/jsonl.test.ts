import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadJsonlTask, loadJsonlTaskFiles, parseJsonlTask } from './jsonl';

const fixture = (name: string): string => fileURLToPath(new URL(`../../fixtures/${name}`, import.meta.url));

describe('loadJsonlTask (math-small fixture)', () => {
  const task = loadJsonlTask(fixture('math-small.jsonl'), { idField: 'id', split: 'test' });

  it('split: test puts every line in the test split, with ids and raw answers', () => {
    expect(task.name).toBe('math-small');
    expect(task.split('test')).toHaveLength(8);
    expect(task.split('train')).toHaveLength(0);
    expect(task.skippedLines).toBe(0);
    const sail = task.split('test').find((e) => e.id === 'sail')!;
    expect(sail.answer).toBe('12.8');
    expect(sail.prompt).toMatch(/^The pressure \$P\$ exerted by wind on a sail/);
    expect(task.split('test').find((e) => e.id === 'integer-answer')!.answer).toBe('4'); // numbers become strings
    expect(task.stopSequences).toEqual([]);
  });

  it('verifies the sail answer in every format a model writes it', () => {
    const sail = task.split('test').find((e) => e.id === 'sail')!;
    for (const c of ['... so $V = \\boxed{12.8}$.', 'V^3=2048, so V is about \\boxed{\\frac{64}{5}}', 'The answer is $12.8$ mph.', 'Answer: 12.80']) {
      expect(task.verify(c, sail)).toMatchObject({ correct: true, formatOk: true });
    }
    expect(task.verify('\\boxed{12.7}', sail)).toEqual({ correct: false, extracted: '12.7', formatOk: true });
    expect(task.verify('V is about 12.8', sail)).toEqual({ correct: false, extracted: null, formatOk: false });
  });

  it('normalizes the other reference answers', () => {
    const byId = (id: string) => task.split('test').find((e) => e.id === id)!;
    expect(task.verify('\\boxed{\\dfrac{3}{8}}', byId('frac')).correct).toBe(true);
    expect(task.verify('\\boxed{0.375}', byId('frac')).correct).toBe(true);
    expect(task.verify('\\boxed{1000}', byId('thousands')).correct).toBe(true);
    expect(task.verify('\\boxed{25}', byId('percent')).correct).toBe(true);
    expect(task.verify('\\boxed{x=4}', byId('integer-answer')).correct).toBe(true);
    expect(task.verify('\\boxed{\\left(-2,2\\right)}', byId('interval')).correct).toBe(true);
    expect(task.verify('\\boxed{[-2,2]}', byId('interval')).correct).toBe(false);
    expect(task.verify('\\boxed{\\text{Saturday}}', byId('text')).correct).toBe(true);
  });

  it('splits a single file 80/20 (seeded) when no split option is given', () => {
    const t = loadJsonlTask(fixture('math-small.jsonl'), { idField: 'id' });
    expect(t.split('test')).toHaveLength(2); // round(0.2 * 8)
    expect(t.split('train')).toHaveLength(6);
    const ids = [...t.split('train'), ...t.split('test')].map((e) => e.id).sort();
    expect(ids).toEqual(task.split('test').map((e) => e.id).sort());
    expect(loadJsonlTask(fixture('math-small.jsonl'), { idField: 'id' }).split('test')).toEqual(t.split('test'));
    // Two lines still give one of each; one line cannot be split and says what to set.
    const two = parseJsonlTask('{"problem": "a", "answer": "1"}\n{"problem": "b", "answer": "2"}', 'two.jsonl');
    expect([two.split('train').length, two.split('test').length]).toEqual([1, 1]);
    expect(() => parseJsonlTask('{"problem": "a", "answer": "1"}', 'one.jsonl')).toThrow(
      /one\.jsonl: 1 example cannot be split into train and test .*set split: train \(or test\), or give separate train: and test: files/,
    );
  });

  it('splits deterministically with splitTestFraction', () => {
    const a = loadJsonlTask(fixture('math-small.jsonl'), { idField: 'id', splitTestFraction: 0.25, seed: 3 });
    const b = loadJsonlTask(fixture('math-small.jsonl'), { idField: 'id', splitTestFraction: 0.25, seed: 3 });
    expect(a.split('test')).toHaveLength(2);
    expect(a.split('train')).toHaveLength(6);
    expect(a.split('test')).toEqual(b.split('test'));
    const ids = [...a.split('test'), ...a.split('train')].map((e) => e.id);
    expect(new Set(ids).size).toBe(8);
  });

  it('applies the prompt template, split choice and hash format', () => {
    const t = loadJsonlTask(fixture('math-small.jsonl'), {
      promptTemplate: 'Q: {problem}\nA:',
      split: 'train',
      format: 'hash',
      name: 'mini',
    });
    expect(t.name).toBe('mini');
    expect(t.split('train')[0]!.prompt.startsWith('Q: The pressure')).toBe(true);
    expect(t.split('train')[0]!.prompt.endsWith('\nA:')).toBe(true);
    expect(t.split('test')).toHaveLength(0);
    expect(t.stopSequences).toEqual(['$']);
    expect(t.verify('V=12.8#12.8$', t.split('train')[0]!).correct).toBe(true);
    expect(t.verify('\\boxed{12.8}', t.split('train')[0]!).formatOk).toBe(false);
  });
});

describe('JSONL errors', () => {
  it('fail on the first bad line with file, line and field', () => {
    expect(() => loadJsonlTask(fixture('math-broken.jsonl'))).toThrow(/math-broken\.jsonl:3: invalid JSON .*each line must be one JSON object/);
  });

  it('skipBadLines skips and counts every bad line with its reason', () => {
    const t = loadJsonlTask(fixture('math-broken.jsonl'), { idField: 'id', skipBadLines: true, split: 'test' });
    expect(t.split('test').map((e) => e.id)).toEqual(['ok-1', 'ok-2', 'ok-3', 'ok-4']);
    expect(t.skippedLines).toBe(4);
    expect(t.skipped.map((s) => s.line)).toEqual([3, 5, 6, 7]);
    expect(t.skipped[1]!.reason).toBe("field 'answer' is missing; set answerField if your file names it differently");
    expect(t.skipped[2]!.reason).toMatch(/field 'answer' must be a string, a number or a list of them \(got object\)/);
    expect(t.skipped[3]!.reason).toMatch(/expected a JSON object, got array/);
  });

  it('names the field and the option to set', () => {
    expect(() => parseJsonlTask('{"query": "q", "answer": "1"}\n', 'data.jsonl')).toThrow(
      "data.jsonl:1: field 'problem' or 'prompt' or 'question' is missing; set problemField if your file names it differently",
    );
    const lines = ['{"problem": "a", "answer": "1"}', '', '{"problem": "b", "answer": "2"}', '{"problem": "c", "answer": "3"}', '', '', '{"problem": "d"}'];
    expect(() => parseJsonlTask(lines.join('\n'), 'data.jsonl')).toThrow(
      "data.jsonl:7: field 'answer' is missing; set answerField if your file names it differently",
    );
    expect(() => parseJsonlTask('{"problem": "", "answer": "1"}', 'd.jsonl')).toThrow(/d\.jsonl:1: field 'problem' is empty/);
    expect(() => parseJsonlTask('{"problem": "a", "answer": "  "}', 'd.jsonl')).toThrow(/d\.jsonl:1: field 'answer' is empty/);
    expect(() => parseJsonlTask('{"id": 1, "problem": "a", "answer": "1"}\n{"id": 1, "problem": "b", "answer": "2"}', 'd.jsonl', { idField: 'id' })).toThrow(
      /d\.jsonl:2: duplicate id '1'/,
    );
    expect(() => parseJsonlTask('{"problem": "a", "answer": "1"}', 'd.jsonl', { idField: 'uid' })).toThrow(/field 'uid' is missing; set idField/);
  });

  it('custom field names, no usable lines, bad options and missing files', () => {
    expect(parseJsonlTask('{"problem": "a", "answer": "1"}', 'dir/data.jsonl', { split: 'test' }).split('test')[0]!.id).toBe('data-1'); // default ids
    const t = parseJsonlTask('{"q": "q1", "final": 7}\n{"q": "q2", "final": "8"}', 'gsm.jsonl', { problemField: 'q', answerField: 'final', split: 'test' });
    expect(t.split('test').map((e) => [e.prompt, e.answer])).toEqual([['q1', '7'], ['q2', '8']]);
    expect(() => parseJsonlTask('\n\n', 'empty.jsonl')).toThrow(/empty\.jsonl: no usable examples/);
    expect(() => parseJsonlTask('{}', 'x.jsonl', { promptTemplate: 'no slot' })).toThrow(/promptTemplate must contain '\{problem\}'/);
    expect(() => loadJsonlTask('/nonexistent/dir/data.jsonl')).toThrow(/\/nonexistent\/dir\/data\.jsonl: cannot read JSONL task file \(ENOENT\)/);
  });

  it('reads CRLF files from disk', () => {
    const dir = mkdtempSync(join(tmpdir(), 'emrl-jsonl-'));
    const file = join(dir, 'crlf.jsonl');
    writeFileSync(file, '{"problem": "a", "answer": "1"}\r\n{"problem": "b", "answer": "2"}\r\n');
    expect(loadJsonlTask(file, { split: 'test' }).split('test').map((e) => e.answer)).toEqual(['1', '2']);
  });
});

describe('per-split files (train: / test: / probe:)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'emrl-jsonl-splits-'));
  const write = (name: string, lines: object[]) => {
    const file = join(dir, name);
    writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    return file;
  };
  const train = write('train.jsonl', [{ problem: 'a', answer: '1' }, { problem: 'b', answer: '2' }]);
  const test = write('test.jsonl', [{ problem: 'c', answer: '3' }]);

  it('each file is its split, named after the first file; ids say which file they came from', () => {
    const t = loadJsonlTaskFiles({ train, test });
    expect(t.name).toBe('train');
    expect(t.split('train').map((e) => [e.id, e.prompt])).toEqual([['train-1', 'a'], ['train-2', 'b']]);
    expect(t.split('test').map((e) => [e.id, e.prompt])).toEqual([['test-1', 'c']]);
    expect(t.split('probe')).toEqual([]);
    // One file may serve two splits (e.g. EM on a prompt and a smoke-test evaluation on it).
    const same = loadJsonlTaskFiles({ train: test, test });
    expect(same.split('train')).toEqual(same.split('test'));
  });

  it('rejects ambiguous or colliding inputs with the fix', () => {
    expect(() => loadJsonlTaskFiles({ path: train, test })).toThrow(/give either 'path' .* or per-split files \(test\), not both/);
    expect(() => loadJsonlTaskFiles({})).toThrow(/no file; set 'path' \(one file\) or 'train' \/ 'test' \/ 'probe'/);
    expect(() => loadJsonlTaskFiles({ train, test }, { split: 'test' })).toThrow(/split \/ splitTestFraction apply to a single 'path' file/);
    const a = write('a.jsonl', [{ id: 7, problem: 'a', answer: '1' }]);
    const b = write('b.jsonl', [{ id: 7, problem: 'b', answer: '2' }]);
    expect(() => loadJsonlTaskFiles({ train: a, test: b }, { idField: 'id' })).toThrow(/b\.jsonl: id '7' is also in .*a\.jsonl; ids must be unique across the task's files/);
    expect(() => loadJsonlTaskFiles({ train: join(dir, 'missing.jsonl') })).toThrow(/missing\.jsonl: cannot read JSONL task file \(ENOENT\); check the task's 'train'/);
  });
});
