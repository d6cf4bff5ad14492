import { Command, CommanderError } from 'commander';
import { registerCompareCommand } from './commands/compare';
import { commandContext, EXIT, type CliOptions } from './commands/context';
import { registerDescribeCommands } from './commands/describe';
import { versionText } from './console/version';
import { registerInitCommand } from './commands/init-command';
import { registerMergeCommand } from './commands/merge-command';
import { registerRunCommands } from './commands/run-commands';
import { registerSingleStageCommands } from './commands/single-stage-commands';
import { registerQueueCommands } from './commands/queue-commands';
import { queueContext, registerSweepCommands } from './commands/sweep-commands';

export { EXIT, type CliOptions } from './commands/context';

/** The `emrl` program: every command registered on one context (output, error guard, run executor). */
export function createProgram(cli: CliOptions): { program: Command; exitCode: () => number } {
  let code: number = EXIT.ok;
  const ctx = commandContext(cli, (c) => (code = c));
  const stdout = cli.stdout ?? process.stdout;
  const stderr = cli.stderr ?? process.stderr;
  const program = new Command('emrl')
    .description('Entropy-minimization and GRPO post-training pipelines: run, resume, sweep, report.')
    .showHelpAfterError('(add --help for usage)')
    .version(versionText(), '-V, --version', 'print the emrl version, node version and git commit')
    .exitOverride()
    .configureOutput({ writeOut: (s) => stdout.write(s), writeErr: (s) => stderr.write(s) });
  registerRunCommands(program, ctx);
  registerSweepCommands(program, ctx);
  registerQueueCommands(program, queueContext(ctx));
  registerSingleStageCommands(program, ctx);
  registerInitCommand(program, ctx);
  registerDescribeCommands(program, ctx);
  registerCompareCommand(program, ctx);
  registerMergeCommand(program, ctx);
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
