import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { ConfigError } from './config-error';
import { crossStageProblems, jsonlSplits } from './cross-stage-checks';
import { findDuplicateJsonKeys } from './json-duplicate-keys';
import { parseConfigText } from './load-config';

describe('findDuplicateJsonKeys', () => {
  it('finds the repeated key with its object path, line and column', () => {
    const text = '{\n  "task": { "type": "modchain" },\n  "stages": [ { "grpo": { "lr": 1, "steps": 2, "lr": 3 } } ]\n}';
    expect(findDuplicateJsonKeys(text)).toEqual([{ path: 'stages[0].grpo', key: 'lr', line: 3, column: 48 }]);
    expect(text.split('\n')[2]!.slice(47, 51)).toBe('"lr"');
  });
  it('agrees with YAML uniqueKeys (an independent parser) on which JSON texts repeat a key', () => {
    const cases = [
      '{"a":1,"b":2}',
      '{"a":1,"a":2}',
      '{"a":{"x":1},"b":{"x":1}}',
      '{"a":[{"k":1},{"k":2}]}',
      '{"a":[{"k":1,"k":2}]}',
      '{"s":"{\\"a\\":1,\\"a\\":2}"}',
      '{"a\\u0062":1,"ab":2}',
      '{"x":{"y":{"z":1,"w":[1,{"z":2}],"z":3}}}',
      '[{"a":1},{"a":1}]',
      '{"":1,"":2}',
    ];
    for (const text of cases) {
      const yamlSaysDup = parseDocument(text, { uniqueKeys: true }).errors.some((e) => /unique/i.test(e.message));
      expect(findDuplicateJsonKeys(text).length > 0, text).toBe(yamlSaysDup);
    }
  });
  it('parseConfigText rejects duplicates in .json files as YAML does in .yaml files', () => {
    const json = '{"seed": 1, "seed": 2, "task": {"type": "modchain"}, "stages": []}';
    expect(() => parseConfigText(json, 'p.json')).toThrow(ConfigError);
    expect(() => parseConfigText(json, 'p.json')).toThrow(/p\.json: duplicate key "seed" at line 1, column 13; JSON keeps only the last one/);
    expect(() => parseConfigText('seed: 1\nseed: 2\n', 'p.yaml')).toThrow(ConfigError);
  });
});

describe('crossStageProblems', () => {
  const at = (kind: string, options: unknown, index = 0) => ({ index, kind, options });
  const cs = (task: unknown, stages: ReturnType<typeof at>[]) => crossStageProblems({ task, stages, diagnostics: false });
  it('temperature 0 where a stage must sample', () => {
    expect(cs({ type: 'modchain' }, [at('grpo', { temperature: 0 })])).toEqual([
      expect.stringMatching(/^stages\[0\]\.grpo\.temperature: 0 means greedy decoding.*use a temperature > 0/),
    ]);
    expect(cs({ type: 'modchain' }, [at('select', { temperature: 0 })])[0]).toMatch(/stages\[0\]\.select\.temperature/);
    expect(cs({ type: 'modchain' }, [at('grpo', { temperature: 0.5 }), at('eval', { temperatures: [0] }, 1)])).toEqual([]);
  });
  it('em with prompt "selected" needs a select stage before it, not after', () => {
    expect(cs({ type: 'modchain' }, [at('em', { prompt: 'selected' }), at('select', {}, 1)])[0]).toMatch(
      /^stages\[0\]\.em\.prompt: "selected" \(the default\) needs a select stage before it/,
    );
    expect(cs({ type: 'modchain' }, [at('select', {}), at('em', { prompt: 'selected' }, 1)])).toEqual([]);
    expect(cs({ type: 'modchain' }, [at('em', { prompt: { split: 'train', count: 1 } })])).toEqual([]);
  });
  it('a JSONL task without the split a stage reads', () => {
    // One file: a seeded train/test split by default, or all of it in `split`; per-split files: those splits.
    expect(jsonlSplits({ type: 'jsonl', path: 'x' })).toEqual(['train', 'test']);
    expect(jsonlSplits({ type: 'jsonl', path: 'x', split: 'test' })).toEqual(['test']);
    expect(jsonlSplits({ type: 'jsonl', path: 'x', splitTestFraction: 0.2 })).toEqual(['train', 'test']);
    expect(jsonlSplits({ type: 'jsonl', train: 'a', test: 'b' })).toEqual(['train', 'test']);
    expect(jsonlSplits({ type: 'modchain' })).toBeNull();
    const p = cs({ type: 'jsonl', path: 'x', split: 'test' }, [at('grpo', { split: 'train', temperature: 1 }, 2)]);
    expect(p).toEqual([expect.stringMatching(/^stages\[2\]\.grpo\.split: reads the "train" split, but the JSONL task has only the "test" split; give a task\.train file/)]);
    expect(cs({ type: 'jsonl', test: 'b' }, [at('grpo', { split: 'train' })])[0]).toMatch(/has only the "test" split/);
    expect(cs({ type: 'jsonl', path: 'x', splitTestFraction: 0.5 }, [at('grpo', { split: 'train' })])).toEqual([]);
    expect(cs({ type: 'jsonl', path: 'x', split: 'train' }, [at('em', { prompt: { split: 'train' }, earlyStop: { split: 'probe' } })])[0]).toMatch(
      /em\.earlyStop\.split: reads the "probe" split/,
    );
    expect(cs({ type: 'jsonl', path: 'x', split: 'train' }, [at('grpo', { split: 'train', evalEvery: 5 })])[0]).toMatch(/grpo\.evalEvery: reads the "test" split/);
    expect(crossStageProblems({ task: { type: 'jsonl', path: 'x', split: 'train' }, stages: [], diagnostics: true })[0]).toMatch(/^diagnostics: boundary diagnostics/);
  });
});
