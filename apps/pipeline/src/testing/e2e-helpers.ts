// Test-only helpers for the end-to-end tests with the real stages (wireRuntime) and models.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../cli';
import type { Observable } from 'rxjs';
import { LIFECYCLE_EVENT_TYPES, type PipelineEvent } from '../pipeline-events';
import { RunDir } from '../run-dir';
import { parseCsv } from '../metrics-csv';
import { wireRuntime } from '../wiring';

export const MAIN = fileURLToPath(new URL('../main.ts', import.meta.url));
export const BIN = fileURLToPath(new URL('../../bin/emrl.mjs', import.meta.url));
export const TSX = import.meta.resolve('tsx');
export const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
export const TINY_QWEN2 = join(REPO, 'libs/lm/fixtures/tiny-qwen2');
export const MATH_SMALL = join(REPO, 'libs/rl-grpo/fixtures/math-small.jsonl');
export const MATH_BROKEN = join(REPO, 'libs/rl-grpo/fixtures/math-broken.jsonl');

/** Diagnostics small enough for tests (4 probe prompts, greedy and T=1, 2 samples). */
export const TINY_DIAGNOSTICS = 'diagnostics: { probeSize: 4, temperatures: [0, 1], samplesPerPrompt: 2 }';

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * `emrl <args>` in a child process: through bin/emrl.mjs (what a user runs) or straight into
 * src/main.ts (one process, so kill -9 hits the process that writes the run directory).
 */
export function spawnEmrl(
  args: string[],
  opts: { via?: 'bin' | 'main'; cwd?: string; onSpawn?: (kill: (sig: NodeJS.Signals) => void, killGroup: (sig: NodeJS.Signals) => void) => void } = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    const argv = opts.via === 'main' ? ['--conditions=@emrl/source', '--import', TSX, MAIN, ...args] : [BIN, ...args];
    // Its own process group, so killGroup reaches every process of it, as Ctrl-C on a terminal does.
    const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.cwd ?? REPO, detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    opts.onSpawn?.(
      (sig) => child.kill(sig),
      (sig) => process.kill(-child.pid!, sig),
    );
    // 'close': also waits for grandchildren holding the pipes (the CLI process under bin/emrl.mjs).
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** `emrl <args>` in this process with the real runtime; output captured. */
export async function emrlInProcess(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const stream = (sink: string[]) => ({ write: (s: string) => (sink.push(s), true) }) as unknown as NodeJS.WritableStream;
  const code = await runCli(['node', 'emrl', ...args], { runtime: wireRuntime, stdout: stream(out), stderr: stream(err) });
  return { code, out: out.join(''), err: err.join('') };
}

/** Resolves once events.jsonl has a line matching every fragment (polled like a user would). */
export async function waitForEvent(dir: string, fragments: string[], timeoutMs = 120_000): Promise<void> {
  const file = join(dir, 'events.jsonl');
  const t0 = Date.now();
  for (;;) {
    if (existsSync(file) && readFileSync(file, 'utf8').split('\n').some((l) => fragments.every((f) => l.includes(f)))) return;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${fragments.join(' ')} in ${file}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Waits until stage-state.json records `stage`'s step-`step` checkpoint. (Its event reaches
 * events.jsonl a moment before the state is saved; a kill in between is a legal crash whose resume
 * redoes the stage from its start, so tests that expect "resumed after step N" wait for this.)
 */
export async function waitForCheckpointState(dir: string, stage: string, step: number, timeoutMs = 120_000): Promise<void> {
  const file = join(dir, 'stage-state.json');
  const t0 = Date.now();
  for (;;) {
    try {
      const state = JSON.parse(readFileSync(file, 'utf8')) as { stages?: { id: string; lastCheckpoint?: { step: number } }[] };
      if (state.stages?.some((s) => s.id === stage && s.lastCheckpoint?.step === step)) return;
    } catch {
      // not written yet
    }
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${stage}'s step-${step} checkpoint in ${file}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Wall-clock measurements: the only metrics that may differ between two runs of the same seed. */
export const isVolatileMetric = (k: string): boolean => k.startsWith('perf/') || k.endsWith('/seconds') || k === 'seconds';
const VOLATILE_KEYS = new Set(['time', 'wallMs', 'totalWallMs', 'tokensPerSec', 'etaSec', 'path', 'seconds']);

/** metrics.csv rows without wall-clock columns. */
export function deterministicMetrics(dir: string): { stage: string; step: number; metrics: Record<string, number> }[] {
  return parseCsv(readFileSync(join(dir, 'metrics.csv'), 'utf8')).map((r) => ({
    ...r,
    metrics: Object.fromEntries(Object.entries(r.metrics).filter(([k]) => !isVolatileMetric(k))),
  }));
}

/** events.jsonl without lifecycle events, wall-clock fields and log lines (which name checkpoint paths). */
export function deterministicEvents(dir: string): unknown[] {
  return RunDir.open(dir)
    .readEvents()
    .filter((e) => !(LIFECYCLE_EVENT_TYPES as readonly string[]).includes(String(e['type'])) && e['type'] !== 'log' && e['type'] !== 'progress')
    .map((e) => JSON.parse(JSON.stringify(e, (k, v: unknown) => (VOLATILE_KEYS.has(k) || isVolatileMetric(k) ? undefined : v))) as unknown);
}

/**
 * Runs `events` until `stage` emits its step-`step` checkpoint, then unsubscribes like Ctrl-C (after
 * the current step, with the state written). Fails if the run completes or errors first.
 */
export function interruptAfterCheckpoint(events: Observable<PipelineEvent>, stage: string, step: number): Promise<void> {
  return new Promise<void>((done, fail) => {
    const sub = events.subscribe({
      next: (e) => {
        if (e.type === 'checkpoint' && e.stage === stage && e.step === step) {
          setImmediate(() => {
            sub.unsubscribe();
            done();
          });
        }
      },
      error: fail,
      complete: () => fail(new Error('the run completed before it was interrupted')),
    });
  });
}
