import { copyFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../config/config-error';
import { listPresets, presetPath, SWEEP_PRESETS } from '../config/presets';
import { EXIT, type CommandContext } from './context';

/** `emrl init`: copy a preset into the current folder. */
export function registerInitCommand(program: Command, ctx: CommandContext): void {
  program
    .command('init [preset]')
    .description('copy a preset config into the current folder to edit')
    .option('-f, --force', 'overwrite an existing file')
    .addHelpText('after', `\nPresets: ${listPresets().join(', ')}\n\nExamples:\n  emrl init em-warmstart\n  emrl run em-warmstart.yaml`)
    .action(
      ctx.guard(async (preset: string | undefined, opts: { force?: boolean }) => {
        const name = preset ?? 'em-warmstart';
        const src = presetPath(name);
        const dest = resolve(`${name}.yaml`);
        if (existsSync(dest) && !opts.force) throw new ConfigError(dest, ['already exists; pass --force to overwrite']);
        copyFileSync(src, dest);
        ctx.out(`wrote ${dest}\nrun it with: emrl ${SWEEP_PRESETS.includes(name) ? 'sweep' : 'run'} ${join('.', `${name}.yaml`)}`);
        return EXIT.ok;
      }),
    );
}
