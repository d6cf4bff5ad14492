import { copyFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, CommanderError } from 'commander';
import { ConfigError } from './config/config-error';
import { parsePipelineConfig, readPipelineFile } from './config/load-config';
import { applyOverride, parseSetFlag } from './config/overrides';
import type { PipelineConfig } from './config/pipeline-schema';
import { listPresets, presetPath, SWEEP_PRESETS } from './config/presets';
import { executeRun, type RunOutcome } from './execute';
import { shortcutOverrides } from './cli-shortcuts';
import { ProgressReporter, formatDiagnosticsLine } from './progress';
import { writeRunReport } from './report/run-report';
import { RunDir } from './run-dir';
import { resumeRun, startRun, type PreparedRun } from './runner';
import type { PipelineRuntime } from './runtime';
import { isSweepDir, writeSweepReport } from './sweep/sweep-report';
import { runSweep } from './sweep/run-sweep';
import { queuedSweepAction, registerQueueCommands, type QueuedSweepOptions } from './commands/queue-commands';

export const EXIT = { ok: 0, failed: 1, badInput: 2, interrupted: 130 } as const;

export interface CliOptions {
  runtime: () => PipelineRuntime;
  /** Module a sweep forks per worker (default: src/sweep/worker.ts with the CLI runtime). */
  sweepWorker?: string;
  stdout?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

function outcomeCode(o: RunOutcome, err: (s: string) => void, dir = '<run-dir>'): number {
  if (o.status === 'ok') return EXIT.ok;
  if (o.status === 'interrupted') {
    err(`interrupted by ${o.signal}; state saved. Continue with: emrl resume ${dir}`);
    return EXIT.interrupted;
  }
  err(`run failed: ${o.error instanceof Error ? o.error.message : String(o.error)}`);
  return EXIT.failed;
}

/** The pipeline file named by <config> or --preset, with --set overrides applied and validated. */
function loadPipeline(file: string | undefined, opts: { preset?: string; set?: string[]; model?: string; task?: string }, runtime: PipelineRuntime): PipelineConfig {
  if (!file && !opts.preset) throw new ConfigError('(command line)', ['give a config file or --preset <name> (see "emrl init --help")']);
  if (opts.preset && SWEEP_PRESETS.includes(opts.preset)) throw new ConfigError('--preset', [`"${opts.preset}" is a sweep; run it with "emrl sweep --preset ${opts.preset}"`]);
  const path = file ?? presetPath(opts.preset!);
  let data = readPipelineFile(path) as Record<string, unknown>;
  for (const { path: key, value } of shortcutOverrides(opts)) data = applyOverride(data, key, value).data;
  for (const flag of opts.set ?? []) {
    const { path: key, value } = parseSetFlag(flag);
    const r = applyOverride(data, key, value);
    if (!r.matched) throw new ConfigError('--set', [`"${key}": no stage of kind "${key.split('.')[0]}" in ${path} and not a top-level key`]);
    data = r.data;
  }
  return parsePipelineConfig(data, path, runtime.registry);
}

export function createProgram(cli: CliOptions): { program: Command; exitCode: () => number } {
  const stdout = cli.stdout ?? process.stdout;
  const stderr = cli.stderr ?? process.stderr;
  const out = (s: string): void => void stdout.write(s + '\n');
  const err = (s: string): void => void stderr.write(s + '\n');
  let code: number = EXIT.ok;

  const guard =
    <A extends unknown[]>(fn: (...args: A) => Promise<number>) =>
    async (...args: A): Promise<void> => {
      try {
        code = await fn(...args);
      } catch (e) {
        if (e instanceof ConfigError) {
          err(e.message);
          code = EXIT.badInput;
        } else {
          err(`error: ${e instanceof Error ? e.message : String(e)}`);
          code = EXIT.failed;
        }
      }
    };

  const execute = async (prepared: PreparedRun, opts: { every?: string; report?: boolean }): Promise<number> => {
    if (prepared.alreadyFinished) {
      out(`${prepared.runDir.dir}: run already finished`);
      return EXIT.ok;
    }
    const reporter = new ProgressReporter(stderr, { every: Number(opts.every ?? 10) });
    err(`run directory: ${prepared.runDir.dir}`);
    const outcome = await executeRun(prepared.events, (e) => reporter.handle(e));
    const c = outcomeCode(outcome, err, prepared.runDir.dir);
    if (c === EXIT.ok && opts.report !== false) {
      const files = await writeRunReport(prepared.runDir.dir);
      out(`report: ${files.html}`);
    }
    return c;
  };

  const program = new Command('emrl')
    .description('Entropy-minimization and GRPO post-training pipelines: run, resume, sweep, report.')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => stdout.write(s), writeErr: (s) => stderr.write(s) });

  const runLike = (cmd: Command): Command =>
    cmd
      .option('-p, --preset <name>', `use a shipped preset (${listPresets().filter((p) => !SWEEP_PRESETS.includes(p)).join(', ')})`)
      .option('-s, --set <key=value>', 'override an option, e.g. em.steps=5 or seed=3 (repeatable)', collect, [])
      .option('-o, --out <dir>', 'run directory (default: <runs>/<name>-<timestamp>)')
      .option('--runs <dir>', 'parent folder of run directories', 'runs')
      .option('--every <n>', 'log a progress line every n steps when not on a terminal', '10')
      .option('--no-report', 'skip writing report.html at the end');

  /** --model / --task: shortcuts for --set model=... / --set task=... (eval, diagnose, select). */
  const modelTask = (cmd: Command): Command =>
    cmd
      .option('-m, --model <dir|embedded[:id]>', 'model to use instead of the config\'s: a Hugging Face directory, "embedded" or "embedded:<id>"')
      .option('-t, --task <modchain|word-problems|path.jsonl>', 'task to use instead of the config\'s: a task type (default options) or a JSONL file');
  type SingleOpts = { preset?: string; set: string[]; out?: string; runs: string; every: string; report: boolean; model?: string; task?: string };

  runLike(program.command('run [config]'))
    .description('run a pipeline file (YAML or JSON) or a preset')
    .addHelpText('after', '\nExamples:\n  emrl run pipeline.yaml\n  emrl run --preset em-warmstart --set em.steps=5 --set seed=2\n  emrl run pipeline.yaml --out runs/my-run')
    .action(
      guard(async (file: string | undefined, opts: { preset?: string; set: string[]; out?: string; runs: string; every: string; report: boolean }) => {
        const runtime = cli.runtime();
        const config = loadPipeline(file, opts, runtime);
        return execute(await startRun({ config, runtime, root: opts.runs, ...(opts.out ? { dir: opts.out } : {}) }), opts);
      }),
    );

  program
    .command('resume <dir>')
    .description('continue an interrupted run from its last completed checkpoint')
    .option('--every <n>', 'log a progress line every n steps when not on a terminal', '10')
    .option('--no-report', 'skip writing report.html at the end')
    .addHelpText('after', '\nExamples:\n  emrl resume runs/em-warmstart-20250101-120000')
    .action(
      guard(async (dir: string, opts: { every: string; report: boolean }) => {
        if (!RunDir.isRunDir(dir)) throw new ConfigError(dir, ['not a run directory (no config.json / events.jsonl); give the folder "emrl run" printed']);
        return execute(await resumeRun({ dir, runtime: cli.runtime() }), opts);
      }),
    );

  program
    .command('sweep [sweep-config]')
    .description('run a grid of pipelines in parallel worker processes; complete cells are skipped, so rerunning resumes')
    .option('-p, --preset <name>', `a shipped sweep preset (${SWEEP_PRESETS.join(', ')})`)
    .option('-o, --out <dir>', 'sweep directory (default: <runs>/<name>)')
    .option('--runs <dir>', 'parent folder', 'runs')
    .option('-j, --concurrency <n>', 'worker processes (default: the sweep file, else 1)')
    .addHelpText('after', '\nExamples:\n  emrl sweep --preset curriculum-ablation --concurrency 2\n  emrl sweep my-sweep.yaml --out runs/ablation   # rerun the same line to resume')
    .action(
      guard(async (file: string | undefined, opts: { preset?: string; out?: string; runs: string; concurrency?: string } & Partial<QueuedSweepOptions>) => {
        if (!file && !opts.preset) throw new ConfigError('(command line)', ['give a sweep file or --preset curriculum-ablation']);
        const sweepFile = file ?? presetPath(opts.preset!);
        if (opts.queue) return queuedSweepAction(sweepFile, opts as QueuedSweepOptions, { runtime: cli.runtime, out, err, guard, ...(cli.sweepWorker ? { cellEntry: cli.sweepWorker } : {}) });
        const result = await runSweep({
          file: sweepFile,
          registry: cli.runtime().registry,
          root: opts.runs,
          ...(opts.out ? { dir: opts.out } : {}),
          ...(opts.concurrency ? { concurrency: Number(opts.concurrency) } : {}),
          ...(cli.sweepWorker ? { workerEntry: cli.sweepWorker } : {}),
          onLog: err,
        });
        if (result.interrupted) {
          err(`sweep interrupted; rerun the same command with --out ${result.dir} to resume`);
          return EXIT.interrupted;
        }
        const files = await writeSweepReport(result.dir);
        out(`sweep report: ${files.html}`);
        return result.failed.length > 0 ? EXIT.failed : EXIT.ok;
      }),
    );

  registerQueueCommands(program, { runtime: cli.runtime, out, err, guard, ...(cli.sweepWorker ? { cellEntry: cli.sweepWorker } : {}) });

  program
    .command('report <dir>')
    .description('write report.html, summary.md and summary.json for a run or sweep directory')
    .addHelpText('after', '\nExamples:\n  emrl report runs/em-warmstart-20250101-120000\n  emrl report runs/curriculum-ablation')
    .action(
      guard(async (dir: string) => {
        if (isSweepDir(dir)) {
          out(`sweep report: ${(await writeSweepReport(dir)).html}`);
          return EXIT.ok;
        }
        if (!RunDir.isRunDir(dir)) throw new ConfigError(dir, ['not a run or sweep directory']);
        out(`report: ${(await writeRunReport(dir)).html}`);
        return EXIT.ok;
      }),
    );

  /** A one-stage pipeline built from a config's model/task/seed (eval, select). */
  const singleStage = (kind: string, help: string, example: string): void => {
    modelTask(runLike(program.command(`${kind} [config]`)))
      .description(help)
      .addHelpText('after', `\nThe model, task, seed and backend come from the config (or preset, default em-warmstart); its ${kind} stage options are used when present. --model and --task replace the config's model and task.\n\nExamples:\n  ${example}`)
      .action(
        guard(async (file: string | undefined, opts: SingleOpts) => {
          const runtime = cli.runtime();
          const data = readPipelineFile(file ?? presetPath(opts.preset ?? 'em-warmstart')) as Record<string, unknown>;
          const stages = Array.isArray(data['stages']) ? (data['stages'] as Record<string, unknown>[]) : [];
          const own = stages.find((s) => s && typeof s === 'object' && kind in s) ?? { [kind]: {} };
          const single = { ...data, name: `${String(data['name'] ?? kind)}-${kind}`, stages: [own] };
          let d: Record<string, unknown> = single;
          for (const { path, value } of shortcutOverrides(opts)) d = applyOverride(d, path, value).data;
          for (const flag of opts.set) {
            const { path, value } = parseSetFlag(flag);
            d = applyOverride(d, path, value).data;
          }
          const config = parsePipelineConfig(d, file ?? `preset ${opts.preset ?? 'em-warmstart'}`, runtime.registry);
          return execute(await startRun({ config, runtime, root: opts.runs, ...(opts.out ? { dir: opts.out } : {}) }), opts);
        }),
      );
  };
  singleStage(
    'eval',
    'evaluate a model: accuracy by temperature, pass@k, calibration',
    [
      'emrl eval pipeline.yaml --set eval.temperatures=[0,0.6,1]',
      'emrl eval --model embedded --task modchain --set eval.limit=50',
      'emrl eval --model path/to/hf-model --task problems.jsonl --set eval.maxNewTokens=64',
      'emrl eval --model runs/my-run/checkpoints/grpo/step-000030 --task modchain',
    ].join('\n  '),
  );
  singleStage(
    'select',
    'one-shot prompt selection alone (variance of correctness over candidate prompts)',
    ['emrl select --preset em-warmstart --set select.candidates=64', 'emrl select --model embedded:modchain-byte --task word-problems --set select.candidates=16'].join('\n  '),
  );

  modelTask(runLike(program.command('diagnose [config]')))
    .description('logit statistics, accuracy by temperature and calibration of the config\'s model on the probe set; printed and saved')
    .addHelpText(
      'after',
      '\nExamples:\n  emrl diagnose pipeline.yaml\n  emrl diagnose --preset grpo-only --set diagnostics.temperatures=[0,0.5,1]\n  emrl diagnose --model path/to/hf-model --task problems.jsonl --set diagnostics.maxNewTokens=64\n  emrl diagnose --model runs/my-run/checkpoints/em/step-000010 --task modchain',
    )
    .action(
      guard(async (file: string | undefined, opts: SingleOpts) => {
        const runtime = cli.runtime();
        const base = loadPipeline(file ?? presetPath(opts.preset ?? 'em-warmstart'), { set: opts.set, ...(opts.model !== undefined ? { model: opts.model } : {}), ...(opts.task !== undefined ? { task: opts.task } : {}) }, runtime);
        const config: PipelineConfig = { ...base, name: `${base.name}-diagnose`, stages: [], diagnostics: { ...base.diagnostics, enabled: true } };
        const prepared = await startRun({ config, runtime, root: opts.runs, ...(opts.out ? { dir: opts.out } : {}) });
        const outcome = await executeRun(prepared.events, (e) => {
          if (e.type === 'diagnostics') {
            out(formatDiagnosticsLine(e));
            out(JSON.stringify(e.diagnostics, null, 2));
          }
        });
        err(`saved in ${prepared.runDir.dir}`);
        return outcomeCode(outcome, err, prepared.runDir.dir);
      }),
    );

  program
    .command('init [preset]')
    .description('copy a preset config into the current folder to edit')
    .option('-f, --force', 'overwrite an existing file')
    .addHelpText('after', `\nPresets: ${listPresets().join(', ')}\n\nExamples:\n  emrl init em-warmstart\n  emrl run em-warmstart.yaml`)
    .action(
      guard(async (preset: string | undefined, opts: { force?: boolean }) => {
        const name = preset ?? 'em-warmstart';
        const src = presetPath(name);
        const dest = resolve(`${name}.yaml`);
        if (existsSync(dest) && !opts.force) throw new ConfigError(dest, ['already exists; pass --force to overwrite']);
        copyFileSync(src, dest);
        out(`wrote ${dest}\nrun it with: emrl ${SWEEP_PRESETS.includes(name) ? 'sweep' : 'run'} ${join('.', `${name}.yaml`)}`);
        return EXIT.ok;
      }),
    );

  return { program, exitCode: () => code };
}

/** Parse argv (node, script, ...args), run the command, return the exit code. */
export async function runCli(argv: readonly string[], cli: CliOptions): Promise<number> {
  const { program, exitCode } = createProgram(cli);
  try {
    await program.parseAsync([...argv]);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.code === 'commander.version') return EXIT.ok;
      return EXIT.badInput;
    }
    throw e;
  }
  return exitCode();
}
