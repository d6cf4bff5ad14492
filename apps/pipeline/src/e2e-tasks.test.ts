// End to end in process with the REAL runtime: a Hugging Face model (tiny-qwen2 fixture) on the
// JSONL and word-problems tasks, and the --model / --task shortcuts of eval, diagnose and select.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT } from './cli';
import { parseModelFlag, parseTaskFlag, shortcutOverrides } from './cli-shortcuts';
import { ConfigError } from './config/config-error';
import { parseCsv } from './metrics-csv';
import { DiagnosticsRecordSchema } from './report/diagnostics-schema';
import { RunDir, type RunRecord } from './run-dir';
import { emrlInProcess, MATH_SMALL, TINY_QWEN2 } from './testing/e2e-helpers';
import { EMBEDDED_MODELS_DIR } from './wiring';

const root = mkdtempSync(join(tmpdir(), 'emrl-e2e-tasks-'));
const SMALL_DIAG = ['--set', 'diagnostics.probeSize=2', '--set', 'diagnostics.temperatures=[0,1]', '--set', 'diagnostics.samplesPerPrompt=2', '--set', 'diagnostics.maxNewTokens=8'];
const SMALL_EVAL = ['--set', 'eval.temperatures=[0,1]', '--set', 'eval.samples=2', '--set', 'eval.limit=3', '--set', 'eval.maxNewTokens=8'];

interface EvalResultLike {
  task: string;
  split: string;
  numPrompts: number;
  byTemperature: { temperature: number; accuracy: number; samplesPerPrompt: number; meanLength: number }[];
}

function evalOf(dir: string): EvalResultLike {
  return RunDir.open(dir).readState()!.stages.find((s) => s.kind === 'eval')!.result as EvalResultLike;
}

describe('--model / --task shortcuts (parsing)', () => {
  it('maps values to the model and task specs', () => {
    expect(parseModelFlag('embedded')).toEqual({ type: 'embedded' });
    expect(parseModelFlag('embedded:modchain-byte')).toEqual({ type: 'embedded', id: 'modchain-byte' });
    expect(parseModelFlag(TINY_QWEN2)).toEqual({ type: 'hf', path: TINY_QWEN2 });
    expect(parseTaskFlag('modchain')).toEqual({ type: 'modchain' });
    expect(parseTaskFlag('word-problems')).toEqual({ type: 'word-problems' });
    expect(parseTaskFlag(MATH_SMALL)).toEqual({ type: 'jsonl', path: MATH_SMALL });
    expect(shortcutOverrides({ task: 'modchain' })).toEqual([{ path: 'task', value: { type: 'modchain' } }]);
    expect(shortcutOverrides({})).toEqual([]);
    // eval scores a JSONL file whole; other commands split it 80/20 into train and test.
    expect(shortcutOverrides({ task: MATH_SMALL }, 'eval')).toEqual([{ path: 'task', value: { type: 'jsonl', test: MATH_SMALL } }]);
    expect(shortcutOverrides({ task: MATH_SMALL }, 'diagnose')).toEqual([{ path: 'task', value: { type: 'jsonl', test: MATH_SMALL } }]);
    expect(shortcutOverrides({ task: MATH_SMALL }, 'select')).toEqual([{ path: 'task', value: { type: 'jsonl', path: MATH_SMALL } }]);
    expect(shortcutOverrides({ task: 'modchain' }, 'eval')).toEqual([{ path: 'task', value: { type: 'modchain' } }]);
  });

  it('rejects what cannot be a model or task with the flag and the fix', () => {
    const msg = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as Error).message;
      }
      throw new Error('expected a ConfigError');
    };
    expect(msg(() => parseModelFlag(join(root, 'nope')))).toMatch(/^--model: ".*nope": no such directory; give a Hugging Face model directory/);
    expect(msg(() => parseModelFlag(root))).toContain('no config.json in this directory');
    expect(msg(() => parseModelFlag('embedded:'))).toContain('needs a model id');
    expect(msg(() => parseTaskFlag('missing.jsonl'))).toMatch(/^--task: "missing\.jsonl": file not found/);
    expect(msg(() => parseTaskFlag('Mod Chain'))).toContain('expected a task type');
  });
});

describe('eval with a Hugging Face model on JSONL and word-problems (config files)', () => {
  it('eval on math-small.jsonl finishes and records the result', async () => {
    const out = join(root, 'hf-jsonl');
    const r = await emrlInProcess(['eval', '--model', TINY_QWEN2, '--task', MATH_SMALL, '--out', out, ...SMALL_EVAL, ...SMALL_DIAG]);
    expect(r.err).not.toMatch(/error|failed/i);
    expect(r.code).toBe(EXIT.ok);
    const record = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as RunRecord;
    expect(record.pipeline['model']).toEqual({ type: 'hf', path: TINY_QWEN2 });
    expect(record.pipeline['task']).toEqual({ type: 'jsonl', test: MATH_SMALL }); // eval scores the whole file
    const ev = evalOf(out);
    expect(ev.task).toBe('math-small');
    expect(ev.numPrompts).toBe(3); // eval.limit=3 of the 8 lines
    expect(ev.byTemperature.map((t) => [t.temperature, t.samplesPerPrompt])).toEqual([[0, 1], [1, 2]]);
    // maxNewTokens bounds every completion.
    for (const t of ev.byTemperature) expect(t.meanLength).toBeLessThanOrEqual(8);
    const rows = parseCsv(readFileSync(join(out, 'metrics.csv'), 'utf8'));
    expect(rows.map((x) => x.stage)).toEqual(['eval']);
    expect(rows[0]!.metrics['eval/accuracy@t0']).toBe(ev.byTemperature[0]!.accuracy);
    const diags = RunDir.open(out).readEvents().filter((e) => e['type'] === 'diagnostics');
    expect(diags.map((e) => e['boundary'])).toEqual(['start', 'after:eval']);
    expect(diags.map((e) => e['policy'])).toEqual(['tiny-qwen2', 'tiny-qwen2']);
    DiagnosticsRecordSchema.parse(diags[0]!['diagnostics']);
  });

  it("emrl eval --set eval.maxNewTokens=N bounds the boundary diagnostics' samples too", async () => {
    const out = join(root, 'hf-jsonl-limit');
    const diagNoLimit = SMALL_DIAG.slice(0, -2); // every small diagnostics option but maxNewTokens
    expect(diagNoLimit.join(' ')).not.toContain('maxNewTokens');
    const r = await emrlInProcess(['eval', '--model', TINY_QWEN2, '--task', MATH_SMALL, '--out', out, ...SMALL_EVAL, ...diagNoLimit]);
    expect(r.code, r.err).toBe(EXIT.ok);
    const record = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as RunRecord;
    expect((record.pipeline['diagnostics'] as { maxNewTokens?: number }).maxNewTokens).toBe(8);
  });

  it('eval on word-problems (small splits) finishes and records the result', async () => {
    const out = join(root, 'hf-wp');
    const file = join(root, 'hf-wp.yaml');
    writeFileSync(
      file,
      [
        'name: hf-wp',
        `model: { type: hf, path: ${TINY_QWEN2} }`,
        'task: { type: word-problems, trainSize: 4, testSize: 4, probeSize: 2 }',
        'diagnostics: { probeSize: 2, temperatures: [0, 1], samplesPerPrompt: 2, maxNewTokens: 8 }',
        'stages:',
        '  - eval: { temperatures: [0, 1], samples: 2, split: test, limit: 3, maxNewTokens: 8 }',
      ].join('\n'),
    );
    const r = await emrlInProcess(['eval', file, '--out', out]);
    expect(r.code).toBe(EXIT.ok);
    const ev = evalOf(out);
    expect(ev.task).toBe('word-problems');
    expect(ev.numPrompts).toBe(3);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toMatch(/<svg[\s>]/);
  });
});

describe('JSONL per-split files', () => {
  it('GRPO on a train file and eval on a test file are one pipeline', async () => {
    const lines = readFileSync(MATH_SMALL, 'utf8').trim().split('\n');
    const train = join(root, 'split-train.jsonl');
    const test = join(root, 'split-test.jsonl');
    writeFileSync(train, lines.slice(0, 5).join('\n') + '\n');
    writeFileSync(test, lines.slice(5).join('\n') + '\n');
    const file = join(root, 'split.yaml');
    writeFileSync(
      file,
      [
        'name: split',
        `model: { type: hf, path: ${TINY_QWEN2} }`,
        'task: { type: jsonl, train: split-train.jsonl, test: split-test.jsonl, idField: id, chatTemplate: off }',
        'diagnostics: { probeSize: 2, temperatures: [0], samplesPerPrompt: 1, maxNewTokens: 4 }',
        'stages:',
        '  - grpo: { steps: 1, promptsPerStep: 2, groupSize: 2, maxCompletionLength: 4 }',
        '  - eval: { temperatures: [0], samples: 1, split: test, maxNewTokens: 4 }',
      ].join('\n'),
    );
    const out = join(root, 'split-run');
    const r = await emrlInProcess(['run', file, '--out', out, '--no-report']);
    expect(r.code, r.err).toBe(EXIT.ok);
    const record = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as RunRecord;
    expect(record.pipeline['task']).toMatchObject({ train, test }); // resolved against the config's folder
    const state = RunDir.open(out).readState()!;
    expect(state.stages.map((s) => [s.kind, s.status])).toEqual([['grpo', 'completed'], ['eval', 'completed']]);
    const ev = evalOf(out);
    expect([ev.task, ev.split, ev.numPrompts]).toEqual(['split-train', 'test', 3]);
  });
});

describe('diagnose and select with the shortcuts', () => {
  it('emrl diagnose --model <hf dir> --task <file.jsonl> prints and saves the start record', async () => {
    const out = join(root, 'diag');
    const r = await emrlInProcess(['diagnose', '--model', TINY_QWEN2, '--task', MATH_SMALL, '--out', out, ...SMALL_DIAG]);
    expect(r.code).toBe(EXIT.ok);
    expect(r.out).toMatch(/^\[diagnostics start\] tiny-qwen2 acc@T0=/);
    const diags = RunDir.open(out).readEvents().filter((e) => e['type'] === 'diagnostics');
    expect(diags).toHaveLength(1);
    const rec = DiagnosticsRecordSchema.parse(diags[0]!['diagnostics']);
    expect(rec.accuracyByTemperature.map((a) => a.temperature)).toEqual([0, 1]);
    expect(JSON.parse(r.out.slice(r.out.indexOf('\n') + 1)) as unknown).toMatchObject({ boundary: 'start', policy: 'tiny-qwen2' });
  });

  it('emrl select --model embedded:<id> --task modchain runs selection alone', async () => {
    const [id] = readdirSync(EMBEDDED_MODELS_DIR);
    const out = join(root, 'select');
    const r = await emrlInProcess(['select', '--model', `embedded:${id}`, '--task', 'modchain', '--out', out, '--set', 'select.candidates=4', '--set', 'select.samplesPerPrompt=2', ...SMALL_DIAG]);
    expect(r.code).toBe(EXIT.ok);
    const state = RunDir.open(out).readState()!;
    expect(state.stages.map((s) => s.kind)).toEqual(['select']);
    const ranking = (state.stages[0]!.result as { ranking: { id: string; k: number }[] }).ranking;
    expect(ranking).toHaveLength(4);
    expect(ranking.every((x) => x.k === 2 && x.id.startsWith('modchain-train-'))).toBe(true);
  });

  it('emrl run --model <dir> --task <file.jsonl> resolves to the same pipeline as the --set spelling', async () => {
    const short = await emrlInProcess(['run', '--preset', 'em-warmstart', '--model', TINY_QWEN2, '--task', MATH_SMALL, '--dry-run']);
    const long = await emrlInProcess([
      'run', '--preset', 'em-warmstart', '--set', `model=${JSON.stringify({ type: 'hf', path: TINY_QWEN2 })}`, '--set', `task=${JSON.stringify({ type: 'jsonl', path: MATH_SMALL })}`, '--dry-run',
    ]);
    expect(short.code, short.err).toBe(EXIT.ok);
    expect(long.code, long.err).toBe(EXIT.ok);
    expect(short.out).toBe(long.out);
    expect(short.out).toContain(`path: ${TINY_QWEN2}`);
    expect(short.out).toContain(`path: ${MATH_SMALL}`);
    // The README's paper recipe: a preset, --model, and --set on top of the shortcut.
    const paper = await emrlInProcess(['run', '--preset', 'paper-one-shot-em', '--model', TINY_QWEN2, '--set', `task.test=${MATH_SMALL}`, '--set', 'task.format=math500', '--dry-run']);
    expect(paper.code, paper.err).toBe(EXIT.ok);
    expect(paper.out).toContain(`test: ${MATH_SMALL}`);
    const missing = await emrlInProcess(['run', '--preset', 'em-warmstart', '--model', join(root, 'no-such-model'), '--runs', root]);
    expect(missing.code).toBe(EXIT.badInput);
    expect(missing.err).toContain('no such directory');
  });

  it('a bad --model or --task exits 2 before anything runs', async () => {
    const bad = await emrlInProcess(['eval', '--model', join(root, 'no-such-model'), '--runs', root]);
    expect(bad.code).toBe(EXIT.badInput);
    expect(bad.err).toContain('--model:');
    const typo = await emrlInProcess(['diagnose', '--model', 'embedded', '--task', 'word-problem', '--runs', root, ...SMALL_DIAG]);
    expect(typo.code).toBe(EXIT.badInput);
    expect(typo.err).toContain('unknown task type "word-problem" (did you mean "word-problems"?)');
  });
});
