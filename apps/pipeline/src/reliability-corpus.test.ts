// The issue-12 corpus: broken configs, corrupt model / tokenizer / task files and damaged run
// directories (apps/pipeline/fixtures/reliability/*.yaml), each with its expected outcome. Every
// case must give a clear error matching its pattern, or succeed; cases accepted although they are
// mistakes are marked `silent` in the data and counted.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeSafetensors, loadPretrained, loadTokenizer, readSafetensors } from '@emrl/lm';
import { setupTestBackend } from '@emrl/lm/testing';
import { createTask, evalStageFactory, grpoStageFactory, loadJsonlTask } from '@emrl/rl-grpo';
import { compressStageFactory, emStageFactory, selectStageFactory } from '@emrl/em-plugin';
import { parsePipelineConfig, readPipelineFile } from './config/load-config';
import { StageRegistry } from './config/stage-registry';
import { applyCorruptOp, type CorruptOp } from './testing/corrupt-ops';

const FIXTURES = fileURLToPath(new URL('../fixtures/reliability', import.meta.url));
const JSONL = fileURLToPath(new URL('../../../libs/rl-grpo/fixtures/math-small.jsonl', import.meta.url));
const TINY_QWEN2 = fileURLToPath(new URL('../../../libs/lm/fixtures/tiny-qwen2', import.meta.url));

export interface CorpusCase {
  name: string;
  expect: 'ok' | 'error';
  pattern?: string;
  silent?: string;
}

const tally = { clear: 0, ok: 0, silent: [] as string[] };
afterAll(() => {
  // The counts for the closing note (visible with --reporter=verbose or in CI logs).
  console.log(`reliability corpus: ${tally.clear} clear errors, ${tally.ok} accepted as valid, ${tally.silent.length} silent (${tally.silent.join(', ') || 'none'})`);
});

/** Checks one case's outcome against its expectation and counts it. */
async function expectOutcome(c: CorpusCase, run: () => unknown): Promise<void> {
  const err = await Promise.resolve()
    .then(run)
    .then(() => null, (e: unknown) => e);
  if (c.expect === 'ok') {
    expect(err, `${c.name}: expected success, got ${err instanceof Error ? err.message : String(err)}`).toBeNull();
    if (c.silent) tally.silent.push(c.name);
    else tally.ok++;
    return;
  }
  expect(err, `${c.name}: expected an error`).toBeInstanceOf(Error);
  expect((err as Error).message, c.name).toMatch(new RegExp(c.pattern!, 's'));
  tally.clear++;
}

const registry = new StageRegistry()
  .register(grpoStageFactory as never)
  .register(evalStageFactory as never)
  .register(selectStageFactory as never)
  .register(emStageFactory as never)
  .register(compressStageFactory as never);

describe('broken configs', () => {
  const { cases } = parse(readFileSync(join(FIXTURES, 'configs.yaml'), 'utf8')) as { cases: (CorpusCase & { text: string; ext?: string })[] };
  const dir = mkdtempSync(join(tmpdir(), 'emrl-corpus-cfg-'));
  it('has at least 60 cases', () => expect(cases.length).toBeGreaterThanOrEqual(60));
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const file = join(dir, `${c.name}.${c.ext ?? 'yaml'}`);
    writeFileSync(file, c.text.replaceAll('${FIXTURES}', FIXTURES).replaceAll('${JSONL}', JSONL));
    await expectOutcome(c, () => {
      const config = parsePipelineConfig(readPipelineFile(file), file, registry);
      createTask(config.task as never, { baseDir: dir });
    });
  });
});

describe('corrupt model, tokenizer, task and optimizer files', () => {
  const { cases } = parse(readFileSync(join(FIXTURES, 'files.yaml'), 'utf8')) as { cases: (CorpusCase & { loader: 'model' | 'tokenizer' | 'jsonl' | 'optimizer'; ops: CorruptOp[] })[] };
  const work = mkdtempSync(join(tmpdir(), 'emrl-corpus-files-'));
  beforeAll(async () => {
    await setupTestBackend();
  });
  /** A fresh good tree for `loader` in its own folder. */
  function goodTree(name: string, loader: string): string {
    const root = join(work, name);
    if (loader === 'model' || loader === 'tokenizer') cpSync(TINY_QWEN2, root, { recursive: true });
    else mkdirSync(root);
    if (loader === 'jsonl') cpSync(JSONL, join(root, 'task.jsonl'));
    if (loader === 'optimizer') {
      // AdamW-style moments: m ~ gradients, v ~ squared gradients (finite, v >= 0).
      const m = Float32Array.from({ length: 32 }, (_, i) => Math.sin(i) * 1e-3);
      const v = Float32Array.from(m, (x) => x * x);
      writeFileSync(join(root, 'optimizer.safetensors'), encodeSafetensors(new Map([['model.norm.weight/m', { shape: [32], data: m }], ['model.norm.weight/v', { shape: [32], data: v }]])));
    }
    return root;
  }
  const load = async (loader: string, root: string): Promise<void> => {
    if (loader === 'model') (await loadPretrained(root)).model.dispose();
    else if (loader === 'tokenizer') await loadTokenizer(root);
    else if (loader === 'jsonl') loadJsonlTask(join(root, 'task.jsonl'));
    else await readSafetensors(join(root, 'optimizer.safetensors'));
  };
  it('has at least 40 cases', () => expect(cases.length).toBeGreaterThanOrEqual(40));
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const root = goodTree(c.name, c.loader);
    for (const op of c.ops) applyCorruptOp(root, op);
    await expectOutcome(c, () => load(c.loader, root));
  });
});
