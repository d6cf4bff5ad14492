// End to end as a user runs it: `node apps/pipeline/bin/emrl.mjs run <file>` with the REAL stages
// on the embedded model (an em-warmstart pipeline shrunk to seconds), and bad input through the CLI.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseCsv } from './metrics-csv';
import { DiagnosticsRecordSchema } from './report/diagnostics-schema';
import { RunDir, type RunRecord } from './run-dir';
import { MATH_BROKEN, REPO, spawnEmrl, TINY_DIAGNOSTICS, TINY_QWEN2, type CliResult } from './testing/e2e-helpers';

const root = mkdtempSync(join(tmpdir(), 'emrl-e2e-'));

/** The em-warmstart preset (select -> em -> grpo -> eval) with tiny sizes. */
const WARMSTART = `name: warmstart-e2e
model: { type: embedded }
task: { type: modchain }
seed: 11
${TINY_DIAGNOSTICS}
stages:
  - select: { candidates: 8, samplesPerPrompt: 4, topN: 1 }
  - em: { steps: 3, rollouts: 4, prompt: selected, checkpointEvery: 2 }
  - grpo: { steps: 3, promptsPerStep: 2, groupSize: 4, checkpointEvery: 2 }
  - eval: { temperatures: [0, 1], samples: 2, split: test, limit: 6 }
`;

/** No wasm-backend uncaught-exception dump (it prints the backend's whole JS source). */
function expectNoSourceDump(r: CliResult): void {
  expect(r.stderr.length).toBeLessThan(4000);
  expect(r.stderr).not.toMatch(/WasmBackend|function\s*\(|at .*tfjs-backend-wasm/);
}

describe('emrl run: em-warmstart on the embedded model (child process, real stages)', () => {
  const dir = join(root, 'warmstart');
  let run: CliResult;

  beforeAll(async () => {
    const file = join(root, 'warmstart.yaml');
    writeFileSync(file, WARMSTART);
    run = await spawnEmrl(['run', file, '--out', dir, '--every', '1']);
  });

  it('exits 0 and prints where the report is', () => {
    expect(run.stderr).not.toMatch(/error|failed/i);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`report: ${join(dir, 'report.html')}`);
    expect(run.stderr).toMatch(/\[em\] step 3\/3 loss=/);
    expect(run.stderr).toMatch(/\[grpo\] step 3\/3 loss=\S+ reward=/);
  });

  it('config.json records the resolved pipeline, seed, backend and git commit', () => {
    const record = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as RunRecord;
    expect(record.seed).toBe(11);
    expect(record.pipeline['seed']).toBe(11);
    expect((record.backend as { name: string }).name).toMatch(/^(wasm|cpu|tensorflow|tensorflow-gpu)$/);
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: REPO }).toString().trim();
    expect(record.git?.commit).toBe(head);
    expect(record.versions.packages['@tensorflow/tfjs-core']).toBe('4.22.0');
    // Every default is filled in, so the file alone reproduces the run.
    const em = (record.pipeline['stages'] as Record<string, Record<string, unknown>>[])[1]!['em']!;
    expect(em).toMatchObject({ steps: 3, rollouts: 4, lr: 1e-4, entropyTemperature: 0.5 });
  });

  it('events.jsonl has a DiagnosticsRecord at the start and after every stage', () => {
    const events = RunDir.open(dir).readEvents();
    const diags = events.filter((e) => e['type'] === 'diagnostics');
    expect(diags.map((e) => e['boundary'])).toEqual(['start', 'after:select', 'after:em', 'after:grpo', 'after:eval']);
    for (const d of diags) {
      const rec = DiagnosticsRecordSchema.parse(d['diagnostics']);
      expect(rec.accuracyByTemperature.map((a) => a.temperature)).toEqual([0, 1]);
      expect(Number.isFinite(rec.logitStats.skewness)).toBe(true);
      expect(rec.logitStats.entropy).toBeGreaterThan(0);
      expect(rec.histogram.counts.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    }
    // select and eval leave the policy unchanged; em and grpo change it.
    expect(diags.map((e) => e['policy'])).toEqual(['modchain-byte', 'modchain-byte', 'modchain-byte>em', 'modchain-byte>em>grpo', 'modchain-byte>em>grpo']);
    expect(events.at(-1)!['type']).toBe('run-finished');
  });

  it('metrics.csv has a row per em and grpo step and the eval summary', () => {
    const rows = parseCsv(readFileSync(join(dir, 'metrics.csv'), 'utf8'));
    expect(rows.filter((r) => r.stage === 'em').map((r) => r.step)).toEqual([1, 2, 3]);
    expect(rows.filter((r) => r.stage === 'grpo').map((r) => r.step)).toEqual([1, 2, 3]);
    for (const r of rows.filter((x) => x.stage === 'em')) expect(r.metrics['em/entropy']).toBeGreaterThan(0);
    for (const r of rows.filter((x) => x.stage === 'grpo')) {
      expect(r.metrics['reward']).toBeGreaterThanOrEqual(0);
      expect(r.metrics['reward']).toBeLessThanOrEqual(1);
    }
    const ev = rows.find((r) => r.stage === 'eval')!;
    expect(Object.keys(ev.metrics)).toEqual(expect.arrayContaining(['eval/accuracy@t0', 'eval/accuracy@t1']));
  });

  it('writes checkpoints (every 2 steps and the last) that load as Hugging Face directories', () => {
    for (const stage of ['em', 'grpo']) {
      const steps = readdirSync(join(dir, 'checkpoints', stage)).filter((f) => f.startsWith('step-')).sort();
      expect(steps).toEqual(['step-000002', 'step-000003']);
      for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) expect(existsSync(join(dir, 'checkpoints', stage, 'step-000003', f))).toBe(true);
    }
    const state = RunDir.open(dir).readState()!;
    expect(state.finished).toBe(true);
    expect(state.stages.map((s) => s.status)).toEqual(['completed', 'completed', 'completed', 'completed']);
  });

  it('report.html is self-contained with SVG plots; summary.md has the boundary table', () => {
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    expect((html.match(/<svg[\s>]/g) ?? []).length).toBeGreaterThanOrEqual(4);
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=["']https?:/);
    const md = readFileSync(join(dir, 'summary.md'), 'utf8');
    for (const b of ['start', 'after select', 'after em', 'after grpo', 'after eval']) expect(md).toContain(`| ${b} |`);
    expect(md).toContain('skewness');
  });

  it('`emrl report` rewrites the report and `emrl resume` of a finished run is a no-op', async () => {
    const report = await spawnEmrl(['report', dir]);
    expect(report.code).toBe(0);
    expect(report.stdout).toContain('report.html');
    const resume = await spawnEmrl(['resume', dir]);
    expect(resume.code).toBe(0);
    expect(resume.stdout).toContain('already finished');
  });
});

describe('bad input through the CLI exits 2 with a clear message', () => {
  it('broken config: unknown keys with did-you-mean, wrong types with their path, no source dump', async () => {
    const file = join(root, 'broken.yaml');
    writeFileSync(file, 'name: broken\ntask: { type: modchain }\nseeed: 3\nstages:\n  - em: { steps: four, lr: 1e-4x }\n  - grpo: { stpes: 3 }\n');
    const r = await spawnEmrl(['run', file, '--runs', root]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}: seeed: unknown key (did you mean "seed"?)`);
    expect(r.stderr).toContain(`${file}: stages[0].em.steps: expected number, received string ("four")`);
    expect(r.stderr).toContain(`${file}: stages[0].em.lr: expected number, received string ("1e-4x")`);
    expect(r.stderr).toContain(`${file}: stages[1].grpo.stpes: unknown key (did you mean "steps"?)`);
    expectNoSourceDump(r);
    expect(existsSync(join(root, 'broken'))).toBe(false);
  });

  it('unknown task type after the backend is up: exit 2 with did-you-mean, no source dump', async () => {
    const file = join(root, 'badtask.yaml');
    writeFileSync(file, 'name: badtask\ntask: { type: modchian }\nstages:\n  - eval: {}\n');
    const r = await spawnEmrl(['run', file, '--runs', root]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('task.type: unknown task type "modchian" (did you mean "modchain"?)');
    expectNoSourceDump(r);
  });

  it('broken JSONL task: exit 2 naming file:line and the field', async () => {
    const file = join(root, 'broken-jsonl.yaml');
    const model = `model: { type: hf, path: ${TINY_QWEN2} }\n`;
    writeFileSync(file, `name: broken-jsonl\n${model}task: { type: jsonl, path: ${MATH_BROKEN} }\nstages:\n  - eval: { limit: 2, maxNewTokens: 4 }\n`);
    const r = await spawnEmrl(['eval', file, '--runs', root]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`task: ${MATH_BROKEN}:3: invalid JSON`);
    expectNoSourceDump(r);
    // A file whose first bad line lacks a field names the field and the option that renames it.
    const missing = join(root, 'missing-answer.jsonl');
    writeFileSync(missing, readFileSync(MATH_BROKEN, 'utf8').split('\n').filter((l) => !l.includes('bad-json')).join('\n'));
    const r2 = await spawnEmrl(['eval', file, '--runs', root, '--task', missing]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain(`task: ${missing}:4: field 'answer' is missing; set answerField if your file names it differently`);
  });
});
