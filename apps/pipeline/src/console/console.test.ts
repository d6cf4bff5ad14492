import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT, runCli } from '../cli';
import { ProgressReporter } from '../progress';
import { wilsonInterval } from '../report/intervals';
import { createFakeRuntime } from '../testing/fake-runtime';
import { formatEvalTable, type EvalTableInput } from './eval-table';
import { formatBackendLine, runResultLines } from './run-results';

const runtime = createFakeRuntime();
async function emrl(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const stream = (sink: string[]) => ({ write: (s: string) => (sink.push(s), true) }) as unknown as NodeJS.WritableStream;
  const code = await runCli(['node', 'emrl', ...args], { runtime: () => runtime, stdout: stream(out), stderr: stream(err) });
  return { code, out: out.join(''), err: err.join('') };
}

describe('eval table', () => {
  const result: EvalTableInput = {
    split: 'test',
    numPrompts: 200,
    byTemperature: [
      { temperature: 0, samplesPerPrompt: 1, accuracy: 0.415, passAtK: { '1': 0.415 }, majAtK: 0.415, meanLength: 7.25, calibration: [{ method: 'sequence-probability', ece: 0.0812 }] },
      { temperature: 1, samplesPerPrompt: 4, accuracy: 0.3, passAtK: { '1': 0.3, '2': 0.45, '4': 0.6 }, majAtK: 0.35, meanLength: 9, calibration: [{ method: 'sequence-probability', ece: 0.12 }] },
    ],
  };

  it('prints accuracy with its Wilson interval over prompts, pass@k, maj@k and ECE per temperature', () => {
    const lines = formatEvalTable('eval "eval"', result);
    expect(lines[0]).toBe('eval "eval": 200 prompts of the test split; 95% CI = Wilson over prompts; ECE from sequence-probability confidence');
    expect(lines[1]).toMatch(/^ {2}T +k +accuracy +95% CI +pass@2 +pass@4 +maj@k +ECE +mean len$/);
    const ci = wilsonInterval(0.3, 200);
    const row = lines[3]!.trim().split(/ {2,}/);
    expect(row).toEqual(['1', '4', '0.300', `[${ci.lo.toFixed(3)}, ${ci.hi.toFixed(3)}]`, '0.450', '0.600', '0.350', '0.120', '9.0']);
    // greedy: no pass@k > 1 recorded, maj@k not meaningful with one sample
    expect(lines[2]!.trim().split(/ {2,}/)).toEqual(['0', '1', '0.415', expect.stringMatching(/^\[0\.3\d\d, 0\.4\d\d\]$/) as unknown as string, '-', '-', '-', '0.081', '7.3']);
  });

  it('runResultLines finds eval results in events and the last boundary diagnostics', () => {
    const lines = runResultLines({
      record: { pipeline: { diagnostics: { samplesPerPrompt: 4 } } } as never,
      events: [
        { type: 'finished', stage: 'eval', result: result },
        { type: 'diagnostics', boundary: 'after:eval', policy: 'base', diagnostics: { accuracyByTemperature: [{ temperature: 0, accuracy: 0.5, samples: 16 }, { temperature: 1, accuracy: 0.25, samples: 64 }], calibration: { ece: 0.2 } } },
      ],
    });
    expect(lines).toContain('probe diagnostics at after eval (base); ECE 0.200; 95% CI = Wilson over prompts');
    // 64 samples at T=1 with k=4 are 16 prompts
    const probe = lines.slice(lines.findIndex((l) => l.startsWith('probe diagnostics')));
    expect(probe.find((l) => l.trim().startsWith('1 '))!.trim().split(/ {2,}/)).toEqual(['1', '0.250', expect.any(String), '16']);
    expect(lines.some((l) => l.startsWith('eval "eval": 200 prompts'))).toBe(true);
  });

  it('formats the backend record', () => {
    expect(formatBackendLine({ name: 'wasm', tfjsVersion: '4.22.0', skipped: [{ name: 'tensorflow', reason: 'Cannot find module' }] })).toBe('backend: wasm (tfjs 4.22.0; skipped: tensorflow (Cannot find module))');
    expect(formatBackendLine({ name: 'wasm', tfjsVersion: '4.22.0', skipped: [], nativeGemm: { used: true, threads: 1 } })).toBe('backend: wasm (tfjs 4.22.0; native GEMM: on, 1 thread)');
    expect(formatBackendLine({ name: 'wasm', tfjsVersion: '4.22.0', skipped: [], nativeGemm: { used: false, reason: 'EMRL_NATIVE_GEMM=0', threads: 1 } })).toBe(
      'backend: wasm (tfjs 4.22.0; native GEMM: off (EMRL_NATIVE_GEMM=0))',
    );
    expect(formatBackendLine({ name: 'cpu', tfjsVersion: '4.22.0', skipped: [], nativeGemm: { used: false, reason: 'backend cpu', threads: 1 } })).toBe('backend: cpu (tfjs 4.22.0)');
  });
});

describe('progress on a TTY', () => {
  it('keeps the final bar and leaves one summary line per finished stage', () => {
    let text = '';
    const reporter = new ProgressReporter({ write: (s: string) => (text += s), isTTY: true, columns: 120 }, { now: () => 5000 });
    reporter.handle({ type: 'started', stage: 'grpo', kind: 'grpo', totalSteps: 2, time: 0 });
    reporter.handle({ type: 'progress', stage: 'grpo', step: 2, totalSteps: 2, loss: 0.25, reward: 0.5 });
    reporter.handle({ type: 'finished', stage: 'grpo', policy: { name: 'base>grpo@2' } as never, summary: { reward: 0.5, kl: 0.01 } });
    // The bar is ended with a newline, never erased (no clear sequence after it).
    const clear = '\r\u001b[2K';
    const bar = text.slice(text.lastIndexOf(clear) + clear.length);
    expect(bar).toMatch(/^grpo +\[#{20}\] +2\/2 +loss 0\.25 +reward 0\.5 +ETA 0s\n\[grpo\] finished in 0s -> base>grpo@2 \| reward=0\.5 kl=0\.01\n$/);
  });
});

describe('emrl --version, --dry-run, backend and results on the console', () => {
  const dir = mkdtempSync(join(tmpdir(), 'emrl-console-'));
  const file = join(dir, 'p.yaml');
  writeFileSync(file, 'task: { type: fake }\nstages:\n  - count: { steps: 2 }\n  - probe: {}\n');

  it('--version prints the version (exit 0)', async () => {
    const r = await emrl(['--version']);
    expect(r.code).toBe(EXIT.ok);
    expect(r.out).toMatch(/^emrl 0\.1\.0 \(node v\d+/);
  });

  it('--dry-run validates, prints the resolved plan and creates nothing', async () => {
    const out = join(dir, 'dry');
    const r = await emrl(['run', file, '--dry-run', '--out', out, '--set', 'count.steps=3']);
    expect(r.code).toBe(EXIT.ok);
    expect(r.out).toContain('dry run: "p" is valid');
    expect(r.out).toContain('stages: count -> probe');
    expect(r.out).toMatch(/- count:\n\s+steps: 3\n\s+lr: 0\.1/);
    expect(existsSync(out)).toBe(false);
    expect((await emrl(['run', join(dir, 'missing.yaml'), '--dry-run'])).code).toBe(EXIT.badInput);
  });

  it('a run prints the backend first and the final probe accuracies with intervals at the end', async () => {
    const r = await emrl(['run', file, '--out', join(dir, 'run')]);
    expect(r.code).toBe(EXIT.ok);
    expect(r.err).toMatch(/run directory: .*\nbackend: fake\n/);
    expect(r.err).toMatch(/\[count\] finished in \d+s -> base>count@2/);
    expect(existsSync(join(dir, 'run', 'report.html'))).toBe(true);
    // A failed run still leaves a report as of its last boundary (refreshed at every boundary).
    const failed = await emrl(['run', file, '--out', join(dir, 'failed'), '--set', 'count.failAt=2']);
    expect(failed.code).toBe(EXIT.failed);
    const html = readFileSync(join(dir, 'failed', 'report.html'), 'utf8');
    expect(html).toContain('not finished');
    expect(html).toMatch(/<td>start<\/td>/);
    expect(r.out).toMatch(/probe diagnostics at after probe \(.*\); ECE [\d.]+; 95% CI = Wilson over prompts\n {2}T +accuracy +95% CI +prompts\n {2}0 /);
  });
});
