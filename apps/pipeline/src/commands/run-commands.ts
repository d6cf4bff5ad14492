import type { Command } from 'commander';
import { ConfigError } from '../config/config-error';
import { RunDir } from '../run-dir';
import { resumeRun, startRun } from '../runner';
import { formatPlan } from '../console/plan';
import { collect, EXIT, loadPipeline, modelTask, runLike, type CommandContext, type SingleOpts } from './context';

/** `emrl run` and `emrl resume`. */
export function registerRunCommands(program: Command, ctx: CommandContext): void {
  modelTask(runLike(program.command('run [config]')))
    .description('run a pipeline file (YAML or JSON) or a preset')
    .addHelpText(
      'after',
      [
        '\n--model and --task replace the config\'s model and task (--model <dir> = --set \'model={"type":"hf","path":"<dir>"}\'; a --task file.jsonl is split 80/20 into train and test).',
        '\nExamples:',
        '  emrl run pipeline.yaml',
        '  emrl run --preset em-warmstart --set em.steps=5 --set seed=2',
        '  emrl run pipeline.yaml --out runs/my-run',
        '  emrl run --preset paper-one-shot-em --model path/to/hf-model --set task.test=math500.jsonl --set task.format=math500',
        '  emrl run pipeline.yaml --model path/to/hf-model --task problems.jsonl',
      ].join('\n'),
    )
    .action(
      ctx.guard(async (file: string | undefined, opts: SingleOpts) => {
        const runtime = ctx.cli.runtime();
        const config = loadPipeline(file, { ...opts, command: 'run' }, runtime);
        if (opts.dryRun) return (ctx.out(formatPlan(config)), EXIT.ok);
        return ctx.execute(await startRun({ config, runtime, root: opts.runs, ...(opts.out ? { dir: opts.out } : {}) }), opts);
      }),
    );

  program
    .command('resume <dir>')
    .description('continue an interrupted or failed run from its last completed checkpoint')
    .option('-s, --set <key=value>', 'change an option of the stages still to run, e.g. grpo.lr=1e-5 after a non-finite step (repeatable; recorded in config.json)', collect, [])
    .option('--every <n>', 'log a progress line every n steps when not on a terminal', '10')
    .option('--no-report', 'skip writing report.html at the end')
    .addHelpText('after', '\nExamples:\n  emrl resume runs/em-warmstart-20250101-120000\n  emrl resume runs/my-run --set grpo.lr=1e-5')
    .action(
      ctx.guard(async (dir: string, opts: { every: string; report: boolean; set: string[] }) => {
        if (!RunDir.isRunDir(dir)) throw new ConfigError(dir, ['not a run directory (no config.json / events.jsonl); give the folder "emrl run" printed']);
        RunDir.claim(dir, 'resume');
        return ctx.execute(await resumeRun({ dir, runtime: ctx.cli.runtime(), overrides: opts.set }), opts);
      }),
    );
}
