// The issue-12 corpus: broken configs, corrupt model / tokenizer / task files and damaged run
// directories (apps/pipeline/fixtures/reliability/*.yaml), each with its expected outcome. Every
// case must give a clear error matching its pattern, or succeed; cases accepted although they are
// mistakes are marked `silent` in the data and counted.
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeSafetensors, loadPretrained, loadTokenizer, readSafetensors } from '@emrl/lm';
import { setupTestBackend } from '@emrl/lm/testing';
import { createTask, loadJsonlTask } from '@emrl/rl-grpo';
import { parsePipelineConfig, readPipelineFile } from './config/load-config';
import { StageRegistry } from './config/stage-registry';
import { builtinStageFactories } from './wiring';
import { metricsCsv, normalizedEvents } from './testing/compare';
import { applyCorruptOp, type CorruptOp } from './testing/corrupt-ops';
import { interruptedFakeRun, resumeFakeRun, straightFakeRun, writeRealCheckpointLayout } from './testing/fake-runs';

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

const registry = new StageRegistry();
for (const f of builtinStageFactories()) registry.register(f);

describe('broken configs', () => {
  const { cases } = parse(readFileSync(join(FIXTURES, 'configs.yaml'), 'utf8')) as { cases: (CorpusCase & { text?: string; hex?: string; ext?: string })[] };
  const dir = mkdtempSync(join(tmpdir(), 'emrl-corpus-cfg-'));
  it('has at least 60 cases', () => expect(cases.length).toBeGreaterThanOrEqual(60));
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const file = join(dir, `${c.name}.${c.ext ?? 'yaml'}`);
    writeFileSync(file, c.hex !== undefined ? Buffer.from(c.hex.replace(/\s+/g, ''), 'hex') : c.text!.replaceAll('${FIXTURES}', FIXTURES).replaceAll('${JSONL}', JSONL));
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
    else await readSafetensors(join(root, 'optimizer.safetensors'), { floatOnly: true }); // as a resume reads it (stage-checkpoint.ts)
  };
  it('has at least 40 cases', () => expect(cases.length).toBeGreaterThanOrEqual(40));
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const root = goodTree(c.name, c.loader);
    for (const op of c.ops) applyCorruptOp(root, op);
    await expectOutcome(c, () => load(c.loader, root));
  });
});

type RunOp = CorruptOp | { relocate: 'mv' | 'cp' } | { legacyPaths: string } | { lock: 'dead' | 'garbled' | 'other-host' | 'live' } | { tempFiles: true };


/** Applies one run op; returns the directory to resume (relocation changes it). */
function applyRunOp(dir: string, op: RunOp): string {
  if ('relocate' in op) {
    const to = `${dir}-${op.relocate === 'mv' ? 'moved' : 'copy'}`;
    if (op.relocate === 'mv') renameSync(dir, to);
    else {
      cpSync(dir, to, { recursive: true });
      rmSync(dir, { recursive: true });
    }
    return to;
  }
  if ('legacyPaths' in op) {
    const state = JSON.parse(readFileSync(join(dir, 'stage-state.json'), 'utf8')) as { stages: { lastCheckpoint?: { path: string } }[] };
    for (const s of state.stages) if (s.lastCheckpoint) s.lastCheckpoint.path = `${op.legacyPaths}/${s.lastCheckpoint.path}`;
    writeFileSync(join(dir, 'stage-state.json'), JSON.stringify(state));
    return dir;
  }
  if ('lock' in op) {
    const lock = (pid: number, host: string, at: number): string => JSON.stringify({ pid, host, startedAt: new Date(at).toISOString(), command: 'resume' });
    const content = {
      // pid 2^22 + 1 is above Linux's default pid_max (2^22), so no process has it.
      dead: lock(4194305, hostname(), Date.now()),
      garbled: '{"pid": 17, "ho',
      'other-host': lock(4242, 'other-node', Date.now()),
      // The test runner's parent: alive, not us, started before this lock.
      live: lock(process.ppid, hostname(), Date.now() + 5000),
    }[op.lock];
    writeFileSync(join(dir, 'run.lock'), content);
    return dir;
  }
  if ('tempFiles' in op) {
    mkdirSync(join(dir, 'checkpoints/train/step-6.tmp-4194305'));
    writeFileSync(join(dir, 'checkpoints/train/step-6.tmp-4194305/state.json'), '{"step":6');
    writeFileSync(join(dir, 'stage-state.json.tmp-4194305-3'), '{');
    writeFileSync(join(dir, 'checkpoints/train/.latest.json.tmp-4194305-0badc0de'), '');
    return dir;
  }
  applyCorruptOp(dir, op);
  return dir;
}

describe('damaged run directories', () => {
  const { cases } = parse(readFileSync(join(FIXTURES, 'runs.yaml'), 'utf8')) as { cases: (CorpusCase & { ops: RunOp[]; realLayout?: boolean })[] };
  const work = mkdtempSync(join(tmpdir(), 'emrl-corpus-runs-'));
  const ref = join(work, 'straight');
  beforeAll(async () => {
    await straightFakeRun(ref);
  });
  it('has at least 30 cases', () => expect(cases.length).toBeGreaterThanOrEqual(30));
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    let dir = join(work, c.name);
    await interruptedFakeRun(dir);
    if (c.realLayout) writeRealCheckpointLayout(dir);
    for (const op of c.ops) dir = applyRunOp(dir, op);
    await expectOutcome(c, async () => {
      await resumeFakeRun(dir);
      expect(normalizedEvents(dir)).toEqual(normalizedEvents(ref));
      expect(metricsCsv(dir)).toBe(metricsCsv(ref));
      expect(readdirSync(dir).filter((n) => n.includes('.tmp-'))).toEqual([]);
    });
  });
});
