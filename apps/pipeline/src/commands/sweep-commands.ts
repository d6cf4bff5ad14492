import type { Command } from 'commander';
import { ConfigError } from '../config/config-error';
import { presetPath, SWEEP_PRESETS } from '../config/presets';
import { writeRunReport } from '../report/run-report';
import { RunDir } from '../run-dir';
import { isSweepDir, writeSweepReport } from '../sweep/sweep-report';
import { runSweep } from '../sweep/run-sweep';
import { collect, EXIT, type CommandContext } from './context';
import { queuedSweepAction, type QueueCommandContext, type QueuedSweepOptions } from './queue-commands';

/** The queue commands' view of the CLI context. */
export function queueContext(ctx: CommandContext): QueueCommandContext {
  return { runtime: ctx.cli.runtime, out: ctx.out, err: ctx.err, guard: ctx.guard, ...(ctx.cli.sweepWorker ? { cellEntry: ctx.cli.sweepWorker } : {}) };
}

/** `emrl sweep` and `emrl report` (of a run or a sweep). */
export function registerSweepCommands(program: Command, ctx: CommandContext): void {
  const { out, err } = ctx;
  program
    .command('sweep [sweep-config]')
    .description('run a grid of pipelines in parallel worker processes; complete cells are skipped, so rerunning resumes')
    .option('-p, --preset <name>', `a shipped sweep preset (${SWEEP_PRESETS.join(', ')})`)
    .option('-o, --out <dir>', 'sweep directory (default: <runs>/<name>)')
    .option('--runs <dir>', 'parent folder', 'runs')
    .option('-j, --concurrency <n>', 'worker processes (default: the sweep file, else 1)')
    .option('-s, --set <key=value>', 'override an option in every cell, e.g. grpo.steps=5 (repeatable; local sweeps)', collect, [])
    .addHelpText('after', '\nExamples:\n  emrl sweep --preset curriculum-ablation --concurrency 2\n  emrl sweep my-sweep.yaml --out runs/ablation   # rerun the same line to resume')
    .action(
      ctx.guard(async (file: string | undefined, opts: { preset?: string; out?: string; runs: string; concurrency?: string } & Partial<QueuedSweepOptions> & { set?: string[] }) => {
        if (!file && !opts.preset) throw new ConfigError('(command line)', ['give a sweep file or --preset curriculum-ablation']);
        const sweepFile = file ?? presetPath(opts.preset!);
        if (opts.queue && opts.set?.length) throw new ConfigError('--set', ['--set applies to local sweeps; with --queue put the change in the sweep or base pipeline file (the job ids hash the resolved cells)']);
        if (opts.queue) return queuedSweepAction(sweepFile, opts as QueuedSweepOptions, queueContext(ctx));
        const result = await runSweep({
          file: sweepFile,
          registry: ctx.cli.runtime().registry,
          root: opts.runs,
          ...(opts.out ? { dir: opts.out } : {}),
          ...(opts.concurrency ? { concurrency: Number(opts.concurrency) } : {}),
          ...(ctx.cli.sweepWorker ? { workerEntry: ctx.cli.sweepWorker } : {}),
          onLog: err,
          overrides: opts.set ?? [],
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

  program
    .command('report <dir>')
    .description('write report.html, summary.md and summary.json for a run or sweep directory')
    .addHelpText('after', '\nExamples:\n  emrl report runs/em-warmstart-20250101-120000\n  emrl report runs/curriculum-ablation')
    .action(
      ctx.guard(async (dir: string) => {
        if (isSweepDir(dir)) {
          out(`sweep report: ${(await writeSweepReport(dir)).html}`);
          return EXIT.ok;
        }
        if (!RunDir.isRunDir(dir)) throw new ConfigError(dir, ['not a run or sweep directory']);
        RunDir.claim(dir, 'report');
        out(`report: ${(await writeRunReport(dir)).html}`);
        return EXIT.ok;
      }),
    );
}
