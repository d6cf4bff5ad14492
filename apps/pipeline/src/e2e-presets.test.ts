import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { listPresets, presetPath, SWEEP_PRESETS } from './config/presets';
import { emrlInProcess } from './testing/e2e-helpers';

// Every shipped pipeline preset runs end to end on the embedded model with the real stages,
// shrunk with --set overrides (fewer steps, prompts and samples) so the whole file stays fast.
const SHRINK: Record<string, string[]> = {
  select: ['select.candidates=8', 'select.samplesPerPrompt=4'],
  em: ['em.steps=2', 'em.rollouts=4'],
  grpo: ['grpo.steps=2', 'grpo.promptsPerStep=2', 'grpo.groupSize=4', 'grpo.numIterations=1'],
  compress: ['compress.steps=2', 'compress.prompts=4', 'compress.rollouts=2'],
  eval: ['eval.limit=8', 'eval.temperatures=[0,1]', 'eval.samples=2'],
};

const root = mkdtempSync(join(tmpdir(), 'emrl-presets-'));

// paper-one-shot-em is written for --model <dir>: its sail prompt (~400 bytes) and the Qwen2.5-Math
// instruction do not fit the embedded model's 64 positions, so the shrunk run swaps in a short
// one-line problem in the same layout, plain text, and short completions.
const SHORT_PROBLEM = join(root, 'short-problem.jsonl');
writeFileSync(SHORT_PROBLEM, '{"id": "short", "problem": "3+4*2=", "answer": "1"}\n');
const EXTRA: Record<string, string[]> = {
  'paper-one-shot-em': [
    `task.train=${SHORT_PROBLEM}`,
    `task.test=${SHORT_PROBLEM}`,
    'task.promptTemplate="{problem}"',
    'task.chatTemplate=off',
    'em.maxNewTokens=16',
    'eval.maxNewTokens=16',
    'diagnostics.maxNewTokens=16',
  ],
};
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('every preset runs', () => {
  for (const name of listPresets().filter((p) => !SWEEP_PRESETS.includes(p))) {
    it(`${name}`, async () => {
      const file = parse(readFileSync(presetPath(name), 'utf8')) as { stages: Record<string, unknown>[] };
      const kinds = new Set(file.stages.map((s) => Object.keys(s)[0]!));
      const sets = [...[...kinds].flatMap((k) => SHRINK[k] ?? []), ...(EXTRA[name] ?? [])].flatMap((s) => ['--set', s]);
      const out = join(root, name);
      const r = await emrlInProcess(['run', '--preset', name, ...sets, '--set', 'diagnostics.probeSize=4', '--set', 'diagnostics.temperatures=[0,1]', '--set', 'diagnostics.samplesPerPrompt=2', '--out', out, '--no-report']);
      expect(r.code, r.err).toBe(0);
      const state = JSON.parse(readFileSync(join(out, 'stage-state.json'), 'utf8')) as { finished: boolean; stages: { kind: string; status: string }[] };
      expect(state.finished).toBe(true);
      expect(state.stages.map((s) => s.kind)).toEqual(file.stages.map((s) => Object.keys(s)[0]));
      expect(state.stages.every((s) => s.status === 'completed')).toBe(true);
    });
  }
});
