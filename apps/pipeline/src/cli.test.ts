import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT, runCli } from './cli';
import { createFakeRuntime } from './testing/fake-runtime';
import { configureRuntime, getRuntime } from './runtime';
import { StageRegistry } from './config/stage-registry';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  const stream = (sink: string[]) => ({ write: (s: string) => (sink.push(s), true) }) as unknown as NodeJS.WritableStream;
  return { out, err, stdout: stream(out), stderr: stream(err) };
}

const runtime = createFakeRuntime();
const emrl = (args: string[]) => {
  const c = capture();
  return runCli(['node', 'emrl', ...args], { runtime: () => runtime, stdout: c.stdout, stderr: c.stderr }).then((code) => ({ code, out: c.out.join(''), err: c.err.join('') }));
};

describe('emrl CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'emrl-cli-'));

  it('prints help with examples for every command (exit 0)', async () => {
    for (const cmd of ['run', 'resume', 'sweep', 'report', 'eval', 'diagnose', 'select', 'init']) {
      const r = await emrl([cmd, '--help']);
      expect(r.code, cmd).toBe(EXIT.ok);
      expect(r.out, cmd).toContain('Examples:');
    }
  });

  it('exits 2 on a broken config, naming file and path', async () => {
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, 'task: { type: fake }\nstages:\n  - count: { stepz: 3 }\n');
    const r = await emrl(['run', file, '--runs', dir]);
    expect(r.code).toBe(EXIT.badInput);
    expect(r.err).toContain(`${file}: stages[0].count.stepz: unknown key (did you mean "steps"?)`);
    expect((await emrl(['run', join(dir, 'missing.yaml')])).code).toBe(EXIT.badInput);
    expect((await emrl(['run', '--preset', 'em-warmstrat'])).err).toContain('did you mean "em-warmstart"?');
    expect((await emrl(['resume', dir])).code).toBe(EXIT.badInput);
    expect((await emrl(['run', '--bogus'])).code).toBe(EXIT.badInput);
  });

  it('runs a pipeline with --set overrides, writes the report, and exits 1 when a stage fails', async () => {
    const file = join(dir, 'ok.yaml');
    writeFileSync(file, 'task: { type: fake }\nstages:\n  - count: { steps: 2 }\n  - probe: {}\n');
    const out = join(dir, 'ok-run');
    const r = await emrl(['run', file, '--out', out, '--set', 'count.steps=3', '--set', 'seed=4']);
    expect(r.code).toBe(EXIT.ok);
    expect(r.out).toContain(`report: ${join(out, 'report.html')}`);
    const record = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { seed: number; pipeline: { stages: unknown[] }; versions: { packages: Record<string, string> } };
    expect(record.seed).toBe(4);
    expect(record.pipeline.stages[0]).toEqual({ count: { steps: 3, lr: 0.1, checkpointEvery: 2, delayMs: 0 } });
    expect(record.versions.packages['@emrl/pipeline']).toBe('0.1.0');
    expect((await emrl(['report', out])).code).toBe(EXIT.ok);
    expect((await emrl(['resume', out])).out).toContain('already finished');
    const failing = await emrl(['run', file, '--out', join(dir, 'fail-run'), '--set', 'count.failAt=1']);
    expect(failing.code).toBe(EXIT.failed);
    expect(failing.err).toContain('run failed: fake failure at step 1');
  });

  it('diagnose runs only the start boundary and prints it', async () => {
    const file = join(dir, 'd.yaml');
    writeFileSync(file, 'task: { type: fake }\nstages:\n  - count: {}\n');
    const r = await emrl(['diagnose', file, '--out', join(dir, 'diag')]);
    expect(r.code).toBe(EXIT.ok);
    expect(r.out).toMatch(/^\[diagnostics start\] base acc@T0=/);
  });

  it('init writes a preset into the current folder and refuses to overwrite', async () => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      expect((await emrl(['init', 'grpo-only'])).code).toBe(EXIT.ok);
      expect(existsSync(join(dir, 'grpo-only.yaml'))).toBe(true);
      expect((await emrl(['init', 'grpo-only'])).code).toBe(EXIT.badInput);
      expect((await emrl(['init', 'nope'])).code).toBe(EXIT.badInput);
    } finally {
      process.chdir(cwd);
    }
  });

  it('the default runtime reports unregistered stages as bad input and unwired loaders as failures', async () => {
    const saved = getRuntime();
    const c = capture();
    const real = configureRuntime({ registry: new StageRegistry() });
    const code = await runCli(['node', 'emrl', 'run', '--preset', 'em-warmstart'], { runtime: () => real, stdout: c.stdout, stderr: c.stderr });
    expect(code).toBe(EXIT.badInput);
    expect(c.err.join('')).toContain('stages[0].select: stage kind "select" has no implementation registered');
    const c2 = capture();
    const file = join(dir, 'empty.yaml');
    writeFileSync(file, 'task: { type: modchain }\nstages: []\n');
    const code2 = await runCli(['node', 'emrl', 'run', file, '--runs', dir], { runtime: () => configureRuntime({ initBackend: () => Promise.resolve({}) }), stdout: c2.stdout, stderr: c2.stderr });
    expect(code2).toBe(EXIT.failed);
    expect(c2.err.join('')).toContain('the task registry (runtime.loadTask) is not wired');
    configureRuntime(saved);
  });
});
