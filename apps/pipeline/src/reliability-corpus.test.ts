// The issue-12 corpus: broken configs, corrupt model / tokenizer / task files and damaged run
// directories (apps/pipeline/fixtures/reliability/*.yaml), each with its expected outcome. Every
// case must give a clear error matching its pattern, or succeed; cases accepted although they are
// mistakes are marked `silent` in the data and counted.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { createTask, evalStageFactory, grpoStageFactory } from '@emrl/rl-grpo';
import { compressStageFactory, emStageFactory, selectStageFactory } from '@emrl/em-plugin';
import { parsePipelineConfig, readPipelineFile } from './config/load-config';
import { StageRegistry } from './config/stage-registry';

const FIXTURES = fileURLToPath(new URL('../fixtures/reliability', import.meta.url));
const JSONL = fileURLToPath(new URL('../../../libs/rl-grpo/fixtures/math-small.jsonl', import.meta.url));

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
