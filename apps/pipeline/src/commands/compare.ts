import { resolve } from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../config/config-error';
import { writeCompareReport } from '../report/compare-report';
import { RunDir } from '../run-dir';
import type { CommandContext } from './context';

/** `emrl compare <run> <run>...`: overlay runs on one HTML page. */
export function registerCompareCommand(program: Command, ctx: CommandContext): void {
  program
    .command('compare <runs...>')
    .description('overlay two or more runs on one page: held-out eval with intervals, last probe, training curves')
    .option('-o, --out <file>', 'HTML file to write', 'compare.html')
    .addHelpText('after', '\nExamples:\n  emrl compare runs/em-warmstart-20250101-120000 runs/grpo-only-20250101-130000\n  emrl compare runs/a runs/b runs/c --out a-b-c.html')
    .action(
      ctx.guard(async (dirs: string[], opts: { out: string }) => {
        if (dirs.length < 2) throw new ConfigError('compare', ['give at least two run directories']);
        const bad = dirs.filter((d) => !RunDir.isRunDir(d));
        if (bad.length > 0) throw new ConfigError(bad[0]!, ['not a run directory (no config.json / events.jsonl); give folders that "emrl run" printed']);
        ctx.out(`compare: ${await writeCompareReport(dirs, resolve(opts.out))}`);
        return 0;
      }),
    );
}
