import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from './config-error';
import { didYouMean, levenshtein } from './did-you-mean';
import { parseConfigText, parsePipelineConfig, readPipelineFile, resolveConfig } from './load-config';
import { applyOverride } from './overrides';
import { createFakeRegistry } from '../testing/fake-stages';
import { createPresetSchemaRegistry } from '../testing/preset-stage-schemas';

const registry = createPresetSchemaRegistry();

function errorOf(text: string, file = 'pipeline.yaml', reg = registry): string[] {
  try {
    parsePipelineConfig(parseConfigText(text, file), file, reg);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message.split('\n');
  }
  throw new Error('expected a ConfigError');
}

describe('levenshtein / didYouMean', () => {
  it('matches hand-computed distances', () => {
    expect(levenshtein('kitten', 'sitting')).toBe(3);
    expect(levenshtein('', 'abc')).toBe(3);
    expect(levenshtein('lr', 'lr')).toBe(0);
    expect(levenshtein('flaw', 'lawn')).toBe(2);
  });
  it('suggests only close candidates', () => {
    expect(didYouMean('stpes', ['steps', 'lr'])).toBe('steps');
    expect(didYouMean('zzzzzz', ['steps', 'lr'])).toBeUndefined();
  });
});

describe('parsePipelineConfig', () => {
  const head = 'task: { type: modchain }\n';
  it('names file, path, expected and received', () => {
    const lines = errorOf(`${head}stages:\n  - select: {}\n  - grpo: {}\n  - em: { lr: 1e-4x }\n`);
    expect(lines).toEqual(['pipeline.yaml: stages[2].em.lr: expected number, received string ("1e-4x")']);
  });
  it('rejects unknown keys with a did-you-mean, at top level and inside stages', () => {
    const lines = errorOf(`${head}seeed: 3\nstages:\n  - em: { stpes: 3 }\n`);
    expect(lines[0]).toMatch(/^pipeline\.yaml: seeed: unknown key \(did you mean "seed"\?\)/);
    expect(lines[1]).toMatch(/^pipeline\.yaml: stages\[0\]\.em\.stpes: unknown key \(did you mean "steps"\?\); allowed here: steps, lr/);
  });
  it('checks stage kinds and the one-key rule', () => {
    const lines = errorOf(`${head}stages:\n  - grp: {}\n  - em: {}\n    grpo: {}\n  - {}\n`);
    expect(lines[0]).toContain('stages[0]: unknown stage kind "grp" (did you mean "grpo"?)');
    expect(lines[1]).toContain('stages[1]: expected exactly one key naming the stage kind');
    expect(lines[2]).toContain('stages[2]: expected exactly one key');
  });
  it('says when a built-in kind has no implementation registered', () => {
    const lines = errorOf(`${head}stages:\n  - em: {}\n`, 'p.yaml', createFakeRegistry());
    expect(lines[0]).toBe('p.yaml: stages[0].em: stage kind "em" has no implementation registered in this build (registered: count, probe)');
  });
  it('suggests enum values and discriminators', () => {
    expect(errorOf(`${head}backend: wsm\nstages: []\n`)[0]).toBe(
      'pipeline.yaml: backend: expected one of "auto" | "wasm" | "cpu" | "tensorflow" | "tensorflow-gpu", received string ("wsm") (did you mean "wasm"?)',
    );
    expect(errorOf(`${head}threads: two\nstages: []\n`)[0]).toBe(
      'pipeline.yaml: threads: expected a whole number of threads from 1 to 64 (e.g. 2), or "auto" (the machine\'s cores, at most 8), received string ("two")',
    );
    expect(errorOf(`${head}model: { type: hff, path: x }\nstages: []\n`)[0]).toContain('model.type: expected one of "embedded" | "hf", received string ("hff") (did you mean "hf"?)');
    expect(errorOf(`${head}model: { type: hf, pth: x }\nstages: []\n`).join('\n')).toContain('model.pth: unknown key (did you mean "path"?); allowed here: type, path');
  });
  it('reports YAML syntax errors with a line number', () => {
    expect(() => parseConfigText('a: [1, 2\nb: 3\n', 'bad.yaml')).toThrow(/bad\.yaml: YAML syntax error at line \d+/);
    expect(() => parseConfigText('a: 1\na: 2\n', 'dup.yaml')).toThrow(/dup\.yaml: YAML syntax error/);
  });
  it('fills defaults, numbers duplicate kinds, and round-trips through resolveConfig', () => {
    const cfg = parsePipelineConfig(parseConfigText(`${head}stages:\n  - grpo: { steps: 3 }\n  - eval:\n  - grpo: {}\n`, 'my-run.yaml'), 'my-run.yaml', registry);
    expect(cfg.name).toBe('my-run');
    expect(cfg.backend).toBe('auto');
    expect(cfg.threads).toBe(1);
    expect(cfg.diagnostics.temperatures).toEqual([0, 0.6, 1]);
    expect(cfg.stages.map((s) => s.id)).toEqual(['grpo', 'eval', 'grpo-2']);
    expect((cfg.stages[0]!.options as { steps: number; groupSize: number }).groupSize).toBe(8);
    const resolved = resolveConfig(cfg);
    expect(parsePipelineConfig(resolved, 'config.json', registry)).toEqual(cfg);
  });
  it('passes task options through for the task registry', () => {
    const cfg = parsePipelineConfig({ task: { type: 'jsonl', path: 'x.jsonl' }, stages: [] }, 'x.json', registry);
    expect(cfg.task).toEqual({ type: 'jsonl', path: 'x.jsonl' });
  });
});

describe('applyOverride', () => {
  it('sets stage options and plugin-list entries by key', () => {
    const plugins = [{ 'entropy-bonus': { coef: 1 } }];
    const base = { stages: [{ grpo: { steps: 1, plugins } }, { em: {} }] };
    const r = applyOverride(base, 'grpo.plugins.em-regularizer.coef', 0.5);
    expect(r.matched).toBe(true);
    expect(r.data['stages']).toEqual([{ grpo: { steps: 1, plugins: [{ 'entropy-bonus': { coef: 1 } }, { 'em-regularizer': { coef: 0.5 } }] } }, { em: {} }]);
    expect(applyOverride(base, 'compress.steps', 3).matched).toBe(false);
    expect(applyOverride(base, 'seed', 3).data['seed']).toBe(3);
    expect(plugins).toHaveLength(1);
  });
});

describe('readPipelineFile', () => {
  it('resolves relative task and hf model paths against the file folder, leaving absolute and embedded ones', () => {
    const dir = mkdtempSync(join(tmpdir(), 'emrl-cfg-'));
    const file = join(dir, 'p.yaml');
    writeFileSync(file, 'model: { type: hf, path: models/m }\ntask: { type: jsonl, path: data/t.jsonl }\nstages: []\n');
    expect(readPipelineFile(file)).toMatchObject({ model: { type: 'hf', path: join(dir, 'models/m') }, task: { type: 'jsonl', path: join(dir, 'data/t.jsonl') } });
    writeFileSync(file, 'model: { type: embedded, id: x }\ntask: { type: jsonl, path: /abs/t.jsonl }\nstages: []\n');
    expect(readPipelineFile(file)).toMatchObject({ model: { type: 'embedded', id: 'x' }, task: { path: '/abs/t.jsonl' } });
  });
});
