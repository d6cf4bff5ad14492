import type { Command } from 'commander';
import { ConfigError } from '../config/config-error';
import { describeStage } from '../config/describe-stage';
import { didYouMean } from '../config/did-you-mean';
import { pipelineJsonSchema } from '../config/pipeline-json-schema';
import type { CommandContext } from './context';

/** `emrl describe [stage]` and `emrl schema`: the option reference, read from the stage registry. */
export function registerDescribeCommands(program: Command, ctx: CommandContext): void {
  program
    .command('describe [stage]')
    .description("every option of a stage kind: type, default, TRL / verl name (and where emrl's default differs from TRL's), help")
    .addHelpText('after', '\nExamples:\n  emrl describe grpo\n  emrl describe em\n  emrl describe          # list the stage kinds')
    .action(
      ctx.guard(async (kind: string | undefined) => {
        const registry = ctx.runtime().registry;
        const kinds = registry.kinds();
        if (kind === undefined) {
          ctx.out(`stage kinds: ${kinds.join(', ')}\nrun "emrl describe <kind>" for its options`);
          return 0;
        }
        const factory = registry.get(kind);
        if (!factory) {
          const guess = didYouMean(kind, kinds);
          throw new ConfigError('describe', [`unknown stage kind "${kind}"${guess ? ` (did you mean "${guess}"?)` : ''}; registered kinds: ${kinds.join(', ')}`]);
        }
        ctx.out(describeStage(kind, factory.schema));
        return 0;
      }),
    );

  program
    .command('schema')
    .description('print the JSON Schema of pipeline files (for editor completion), generated from the stage schemas')
    .addHelpText('after', '\nExamples:\n  emrl schema > emrl.schema.json\n  # then, first line of a pipeline YAML:  # yaml-language-server: $schema=./emrl.schema.json')
    .action(
      ctx.guard(async () => {
        ctx.out(JSON.stringify(pipelineJsonSchema(ctx.runtime().registry), null, 2));
        return 0;
      }),
    );
}
