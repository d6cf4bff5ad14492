import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { JsonlTask } from './jsonl';
import { ModchainTask } from './modchain';
import { BuiltinTaskSpecSchema as TaskSpecSchema, checkTaskSpec, createTask, registerTask, registeredTaskTypes } from './registry';
import type { Task } from './task';
import { WordProblemsTask } from './word-problems';

const fixturesDir = dirname(fileURLToPath(new URL('../../fixtures/math-small.jsonl', import.meta.url)));

describe('TaskSpecSchema', () => {
  it('parses each built-in type with defaults', () => {
    expect(TaskSpecSchema.parse({ type: 'modchain' })).toMatchObject({ type: 'modchain', modulus: 10, maxOps: 6, pDirect: 0.4 });
    expect(TaskSpecSchema.parse({ type: 'word-problems', noise: 0 })).toMatchObject({ type: 'word-problems', noise: 0, pDirect: 0.4 });
    const jsonl = TaskSpecSchema.parse({ type: 'jsonl', path: 'a.jsonl' });
    expect(jsonl).toMatchObject({ type: 'jsonl', format: 'auto', chatTemplate: 'auto', promptTemplate: '{problem}' });
    expect(jsonl).not.toHaveProperty('split'); // a single file is split 80/20 unless split is set
  });

  it('keeps cross-field rules and rejects unknown types', () => {
    expect(TaskSpecSchema.safeParse({ type: 'modchain', minOps: 5, maxOps: 2 }).success).toBe(false);
    expect(TaskSpecSchema.safeParse({ type: 'jsonl' }).success).toBe(false); // path or train/test required
    expect(TaskSpecSchema.safeParse({ type: 'jsonl', path: 'a.jsonl', test: 'b.jsonl' }).success).toBe(false);
    expect(TaskSpecSchema.safeParse({ type: 'jsonl', train: 'a.jsonl', split: 'test' }).success).toBe(false);
    expect(TaskSpecSchema.safeParse({ type: 'jsonl', train: 'a.jsonl', test: 'b.jsonl' }).success).toBe(true);
    expect(TaskSpecSchema.safeParse({ type: 'nope' }).success).toBe(false);
  });
});

describe('createTask', () => {
  it('builds the built-in tasks', () => {
    const m = createTask({ type: 'modchain', modulus: 7, trainSize: 20, testSize: 10, probeSize: 4 });
    expect(m).toBeInstanceOf(ModchainTask);
    expect(m.split('train')).toHaveLength(20);
    expect((m as ModchainTask).config.modulus).toBe(7);
    const w = createTask({ type: 'word-problems', kinds: ['joint'], trainSize: 10, testSize: 5, probeSize: 0 });
    expect(w).toBeInstanceOf(WordProblemsTask);
    expect(w.split('test').every((e) => / jointly /.test(e.prompt))).toBe(true);
  });

  it('resolves jsonl paths against baseDir', () => {
    const t = createTask({ type: 'jsonl', path: 'math-small.jsonl', splitTestFraction: 0.5 }, { baseDir: fixturesDir });
    expect(t).toBeInstanceOf(JsonlTask);
    expect(t.split('test').length + t.split('train').length).toBe(8);
    expect(() => createTask({ type: 'jsonl', path: 'math-small.jsonl' }, { baseDir: '/nonexistent' })).toThrow(
      /\/nonexistent\/math-small\.jsonl: cannot read/,
    );
  });

  it('reports bad specs with the type and field', () => {
    expect(() => createTask({ type: 'modchain', noise: 2 })).toThrow(/task spec \(type 'modchain'\):.*noise/s);
    expect(() => createTask({ type: 'gsm8k' })).toThrow(/unknown task type 'gsm8k'; known types: modchain, word-problems, jsonl.*registerTask\('gsm8k', factory\)/);
    expect(() => createTask({} as { type: string })).toThrow(/field 'type' is missing/);
  });
});

describe('registerTask', () => {
  const constant: (answer: string) => Task = (answer) => ({
    name: 'constant',
    stopSequences: [],
    maxCompletionLength: 4,
    split: (s) => (s === 'test' ? [{ id: 'c0', prompt: 'say it', answer }] : []),
    extractAnswer: (c) => c,
    verify: (c, e) => ({ correct: c === e.answer, extracted: c, formatOk: true }),
  });

  it('adds a type by name, validates with its schema, and can be removed', () => {
    const schema = z.object({ type: z.literal('constant'), answer: z.string().default('42') });
    const remove = registerTask('constant', (spec) => constant(String(spec.answer)), { schema });
    try {
      expect(registeredTaskTypes()).toContain('constant');
      const t = createTask({ type: 'constant' });
      expect(t.split('test')[0]!.answer).toBe('42');
      expect(t.verify('42', t.split('test')[0]!).correct).toBe(true);
      expect(() => createTask({ type: 'constant', answer: 5 })).toThrow(/task spec \(type 'constant'\):.*answer/s);
      expect(() => registerTask('constant', () => constant('1'))).toThrow(/already registered; pass \{ override: true \}/);
    } finally {
      remove();
    }
    expect(registeredTaskTypes()).not.toContain('constant');
  });

  it('protects built-ins unless overridden, and checks the name', () => {
    expect(() => registerTask('modchain', () => constant('1'))).toThrow(/already registered/);
    expect(() => registerTask('My Task', () => constant('1'))).toThrow(/must be kebab-case/);
    const remove = registerTask('modchain', () => constant('override'), { override: true });
    try {
      expect(createTask({ type: 'modchain' }).name).toBe('constant');
    } finally {
      remove();
    }
    expect(createTask({ type: 'modchain', trainSize: 1, testSize: 1, probeSize: 1 })).toBeInstanceOf(ModchainTask);
  });
});

describe('strict task options', () => {
  it('an unknown option is an error with a did-you-mean (issue 12: testsize: 5 was ignored)', () => {
    expect(() => createTask({ type: 'modchain', testsize: 5 } as never)).toThrow(/task spec \(type 'modchain'\): testsize: unknown option \(did you mean "testSize"\?\)/);
    expect(() => createTask({ type: 'word-problems', nosie: 0.1 } as never)).toThrow(/nosie: unknown option \(did you mean "noise"\?\)/);
    expect(() => createTask({ type: 'jsonl', path: 'x.jsonl', problemfield: 'q' } as never)).toThrow(/problemfield: unknown option \(did you mean "problemField"\?\)/);
    expect(() => createTask({ type: 'modchain', zzzqqq: 1 } as never)).toThrow(/zzzqqq: unknown option; known options: type, modulus/);
  });
  it('checkTaskSpec reports the same problems without building (no file read)', () => {
    expect(checkTaskSpec({ type: 'jsonl', path: '/does/not/exist.jsonl', seperator: 1 })).toEqual([expect.stringMatching(/^seperator: unknown option/)]);
    expect(checkTaskSpec({ type: 'modchain', noise: 2 })).toEqual([expect.stringMatching(/^noise: /)]);
    expect(checkTaskSpec({ type: 'modchain', testSize: 5 })).toEqual([]);
    expect(checkTaskSpec({ type: 'not-registered', anything: 1 })).toEqual([]);
  });
});
