import { join } from 'node:path';
import { Command } from 'commander';
import { ConfigError } from '../config/config-error';
import { parsePipelineConfig, readPipelineFile } from '../config/load-config';
import { applyOverride, applySetFlags } from '../config/overrides';
import type { PipelineConfig } from '../config/pipeline-schema';
import { listPresets, presetPath, SWEEP_PRESETS } from '../config/presets';
import { shortcutOverrides } from '../cli-shortcuts';
import { executeRun, type RunOutcome } from '../execute';
import { ProgressReporter } from '../progress';
import { resumePointNote } from '../console/resume-point';
import { formatBackendLine, runResultLines } from '../console/run-results';
import { loadRun } from '../report/load-run';
import { ReportRefresher } from '../report/report-refresher';
import type { PreparedRun } from '../runner';
import type { PipelineRuntime } from '../runtime';

export const EXIT = { ok: 0, failed: 1, badInput: 2, interrupted: 130 } as const;

export interface CliOptions {
  runtime: () => PipelineRuntime;
  /** Module a sweep forks per worker (default: src/sweep/worker.ts with the CLI runtime). */
  sweepWorker?: string;
  stdout?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

/** What every command module gets: output, the error guard and the shared run executor. */
export interface CommandContext {
  cli: CliOptions;
  runtime: () => PipelineRuntime;
  out(line: string): void;
  err(line: string): void;
  /** Wraps an action: its number is the exit code; a ConfigError prints as bad input (2), others as failed (1). */
  guard<A extends unknown[]>(fn: (...args: A) => Promise<number>): (...args: A) => Promise<void>;
  /** Runs a prepared run with progress on stderr and writes its report; returns the exit code. */
  execute(prepared: PreparedRun, opts: { every?: string; report?: boolean }): Promise<number>;
}

export const collect = (v: string, prev: string[]): string[] => [...prev, v];

export function outcomeCode(o: RunOutcome, err: (s: string) => void, dir = '<run-dir>'): number {
  if (o.status === 'ok') return EXIT.ok;
  if (o.status === 'interrupted') {
    err(`interrupted by ${o.signal}; state saved. Continue with: emrl resume ${dir}`);
    const note = dir === '<run-dir>' ? null : resumePointNote(dir);
    if (note) err(`  ${note}`);
    return EXIT.interrupted;
  }
  err(`run failed: ${o.error instanceof Error ? o.error.message : String(o.error)}`);
  return EXIT.failed;
}

/** Builds the context of one program; `setCode` records the exit code of the action that ran. */
export function commandContext(cli: CliOptions, setCode: (code: number) => void): CommandContext {
  const stdout = cli.stdout ?? process.stdout;
  const stderr = cli.stderr ?? process.stderr;
  const out = (s: string): void => void stdout.write(s + '\n');
  const err = (s: string): void => void stderr.write(s + '\n');
  return {
    cli,
    runtime: cli.runtime,
    out,
    err,
    guard:
      (fn) =>
      async (...args) => {
        try {
          setCode(await fn(...args));
        } catch (e) {
          if (e instanceof ConfigError) {
            err(e.message);
            setCode(EXIT.badInput);
          } else {
            err(`error: ${e instanceof Error ? e.message : String(e)}`);
            setCode(EXIT.failed);
          }
        }
      },
    execute: async (prepared, opts) => {
      if (prepared.alreadyFinished) {
        out(`${prepared.runDir.dir}: run already finished`);
        return EXIT.ok;
      }
      const reporter = new ProgressReporter(stderr, { every: Number(opts.every ?? 10) });
      err(`run directory: ${prepared.runDir.dir}`);
      err(formatBackendLine(prepared.runDir.readConfig().backend));
      const refresher = opts.report === false ? undefined : new ReportRefresher(prepared.runDir.dir, (m) => err(`warning: ${m}`));
      const outcome = await executeRun(prepared.events, (e) => {
        reporter.handle(e);
        if (e.type === 'diagnostics') refresher?.request(); // report.html is current at every boundary
      });
      await refresher?.idle();
      const c = outcomeCode(outcome, err, prepared.runDir.dir);
      if (c === EXIT.ok) for (const line of runResultLines(loadRun(prepared.runDir.dir))) out(line);
      if (refresher) {
        refresher.request();
        await refresher.idle();
        out(`report: ${join(prepared.runDir.dir, 'report.html')}`);
      }
      return c;
    },
  };
}

/** The pipeline file named by <config> or --preset, with --set overrides applied and validated. */
export function loadPipeline(file: string | undefined, opts: { preset?: string; set?: string[]; model?: string; task?: string; threads?: string; command?: string; withoutStages?: boolean }, runtime: PipelineRuntime): PipelineConfig {
  if (!file && !opts.preset) throw new ConfigError('(command line)', ['give a config file or --preset <name> (see "emrl init --help")']);
  if (opts.preset && SWEEP_PRESETS.includes(opts.preset)) throw new ConfigError('--preset', [`"${opts.preset}" is a sweep; run it with "emrl sweep --preset ${opts.preset}"`]);
  const path = file ?? presetPath(opts.preset!);
  let data = readPipelineFile(path) as Record<string, unknown>;
  for (const { path: key, value } of shortcutOverrides(opts, opts.command)) data = applyOverride(data, key, value).data;
  data = applySetFlags(data, opts.set ?? [], path);
  // diagnose runs no stage: its cross-stage checks (e.g. a JSONL task without a train split) do not apply.
  if (opts.withoutStages) data = { ...data, stages: [] };
  return parsePipelineConfig(data, path, runtime.registry);
}

/** Options shared by the commands that start a run (run, eval, select, diagnose). */
export function runLike(cmd: Command): Command {
  return cmd
    .option('-p, --preset <name>', `use a shipped preset (${listPresets().filter((p) => !SWEEP_PRESETS.includes(p)).join(', ')})`)
    .option('-s, --set <key=value>', 'override an option, e.g. em.steps=5 or seed=3 (repeatable)', collect, [])
    .option('-o, --out <dir>', 'run directory (default: <runs>/<name>-<timestamp>)')
    .option('--runs <dir>', 'parent folder of run directories', 'runs')
    .option('--every <n>', 'log a progress line every n steps when not on a terminal', '10')
    .option('--no-report', 'skip writing report.html at the end')
    .option('--dry-run', 'validate and print the resolved plan (every default filled) without loading or running anything')
    .option('--threads <n|auto>', 'threads sharing every generation, scoring and gradient pass (same as --set threads=...; "auto" = the cores, at most 8)');
}

/** --model / --task: shortcuts for --set model=... / --set task=... (eval, diagnose, select). */
export function modelTask(cmd: Command): Command {
  return cmd
    .option('-m, --model <dir|embedded[:id]>', 'model to use instead of the config\'s: a Hugging Face directory, "embedded" or "embedded:<id>"')
    .option('-t, --task <modchain|word-problems|path.jsonl>', 'task to use instead of the config\'s: a task type (default options) or a JSONL file');
}

export type RunOpts = { preset?: string; set: string[]; out?: string; runs: string; every: string; report: boolean; dryRun?: boolean; threads?: string };
export type SingleOpts = RunOpts & { model?: string; task?: string };
