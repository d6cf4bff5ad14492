import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { ConfigError } from '../config/config-error';
import { presetPath } from '../config/presets';
import type { PipelineRuntime } from '../runtime';
import { cancelSweepJobs } from '../sweep/queue/cancel';
import { codeVersion } from '../sweep/queue/code-version';
import { prepareQueuedSweep } from '../sweep/queue/enqueue';
import { loadSweepConfig } from '../sweep/sweep-config';
import { openCellQueue, runQueuedSweep } from '../sweep/queue/queued-sweep';
import { parseQueueUrl, type QueueTarget } from '../sweep/queue/redis-url';
import { readQueueRecord } from '../sweep/queue/results';
import { formatStatus, sweepStatus } from '../sweep/queue/sweep-status';
import { startQueueWorker } from '../sweep/queue/queue-worker';
import { writeSweepReport } from '../sweep/sweep-report';

/** What the queue commands borrow from createProgram. */
export interface QueueCommandContext {
  runtime: () => PipelineRuntime;
  /** Module forked per cell (default: src/sweep/worker.ts with the CLI runtime). */
  cellEntry?: string;
  out: (s: string) => void;
  err: (s: string) => void;
  guard: <A extends unknown[]>(fn: (...args: A) => Promise<number>) => (...args: A) => Promise<void>;
}

export interface QueuedSweepOptions {
  queue: string;
  artifacts?: string;
  attempts: string;
  retryFailed?: boolean;
  out?: string;
  runs: string;
}

const positiveInt = (flag: string, v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(flag, [`"${v}" is not a positive integer`]);
  return n;
};

/** The `emrl sweep <file> --queue <url>` action: enqueue, follow, write the sweep report. */
export async function queuedSweepAction(sweepFile: string, opts: QueuedSweepOptions, ctx: QueueCommandContext): Promise<number> {
  const target = parseQueueUrl(opts.queue);
  const result = await runQueuedSweep({
    file: sweepFile,
    registry: ctx.runtime().registry,
    target,
    version: codeVersion(),
    root: opts.runs,
    ...(opts.out ? { dir: opts.out } : {}),
    ...(opts.artifacts ? { artifacts: opts.artifacts } : {}),
    attempts: positiveInt('--attempts', opts.attempts),
    retryFailed: opts.retryFailed === true,
    onLog: ctx.err,
  });
  if (result.interrupted) {
    ctx.err(`stopped following; the workers keep going. Rerun the same command (with --out ${result.dir}) to follow again`);
    return 130;
  }
  const files = await writeSweepReport(result.dir);
  ctx.out(`sweep report: ${files.html}`);
  for (const f of result.failed) ctx.err(`cell ${f.id} failed: ${f.reason}`);
  if (result.failed.length) ctx.err(`${result.failed.length} cell(s) failed; fix the cause and rerun with --retry-failed`);
  return result.failed.length > 0 ? 1 : 0;
}

/** The sweep file and queue a `sweep status` / `sweep cancel` names, or a ConfigError saying what is missing. */
function sweepAndQueue(file: string | undefined, opts: { preset?: string; queue?: string }): { sweepFile: string; target: QueueTarget } {
  if (!file && !opts.preset) throw new ConfigError('(command line)', ['give the sweep file (or --preset) the sweep was started with']);
  if (!opts.queue) throw new ConfigError('--queue', ['give the queue URL the sweep was started with, e.g. --queue redis://127.0.0.1:6379']);
  return { sweepFile: file ?? presetPath(opts.preset!), target: parseQueueUrl(opts.queue) };
}

/** `emrl worker --queue <url>`: serve cells until Ctrl-C. */
function registerWorker(program: Command, ctx: QueueCommandContext): void {
  program
    .command('worker')
    .description('take sweep cells from a Redis queue (BullMQ) and run them, until stopped with Ctrl-C')
    .requiredOption('--queue <url>', 'redis://host:port or rediss://host:port (TLS); password in the URL or EMRL_REDIS_PASSWORD')
    .option('--work-dir <dir>', 'where cells run when the sweep has no shared --artifacts dir', 'runs/worker')
    .option('-j, --concurrency <n>', 'cells at a time on this machine', '1')
    .option('--lock-ms <ms>', 'BullMQ lock: a dead worker\'s cell is retried after about twice this', '30000')
    .option('--refuse-delay-ms <ms>', 'a cell of another code version is refused and offered again after this long', '10000')
    .addHelpText('after', '\nExamples:\n  emrl worker --queue redis://10.0.0.5:6379\n  EMRL_REDIS_PASSWORD=... emrl worker --queue rediss://redis.example.org:6380 -j 2')
    .action(
      ctx.guard(async (opts: { queue: string; workDir: string; concurrency: string; lockMs: string; refuseDelayMs: string }) => {
        const handle = startQueueWorker({
          target: parseQueueUrl(opts.queue),
          registry: ctx.runtime().registry,
          version: codeVersion(),
          cellEntry: ctx.cellEntry ?? fileURLToPath(new URL('../sweep/worker.ts', import.meta.url)),
          workDir: resolve(opts.workDir),
          concurrency: positiveInt('--concurrency', opts.concurrency),
          lockMs: positiveInt('--lock-ms', opts.lockMs),
          refuseDelayMs: positiveInt('--refuse-delay-ms', opts.refuseDelayMs),
          onLog: ctx.err,
        });
        const stop = (): void => handle.stop();
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
        try {
          return await handle.stopped;
        } finally {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        }
      }),
    );
}

/** `emrl sweep status <file> --queue <url>`. */
function registerStatus(sweep: Command, ctx: QueueCommandContext): void {
  sweep
    .command('status [sweep-config]')
    .description('done / running / failed / waiting per cell of a queued sweep, with an ETA')
    .option('-p, --preset <name>', 'a shipped sweep preset')
    .option('--queue <url>', 'the queue the sweep was sent to')
    .option('-o, --out <dir>', 'sweep directory (default: <runs>/<name>)')
    .option('--runs <dir>', 'parent folder', 'runs')
    .addHelpText('after', '\nExamples:\n  emrl sweep status my-sweep.yaml --queue redis://10.0.0.5:6379\n  emrl sweep status --preset curriculum-ablation --queue redis://10.0.0.5:6379 --out runs/ablation')
    .action(
      ctx.guard(async (file: string | undefined, _o: unknown, cmd: Command) => {
        const opts = cmd.optsWithGlobals<{ preset?: string; queue?: string; out?: string; runs: string }>();
        const { sweepFile, target } = sweepAndQueue(file, opts);
        const version = codeVersion();
        const prepared = prepareQueuedSweep({ file: sweepFile, registry: ctx.runtime().registry, root: opts.runs, ...(opts.out ? { dir: opts.out } : {}), version, queueDisplay: target.display, artifacts: null, dryRun: true });
        const record = readQueueRecord(prepared.dir);
        const cells = prepared.cells.map((c) => ({ ...c, jobId: record?.jobs[c.cell.id] ?? c.jobId }));
        const queue = openCellQueue(target, ctx.err);
        try {
          for (const line of formatStatus(await sweepStatus(queue, { dir: prepared.dir, cells }))) ctx.out(line);
        } finally {
          await queue.close();
        }
        return 0;
      }),
    );
}

/** `emrl sweep cancel <file> --queue <url>`. */
function registerCancel(sweep: Command, ctx: QueueCommandContext): void {
  sweep
    .command('cancel [sweep-config]')
    .description('remove a queued sweep\'s jobs (any code version) from Redis; running cells finish, results already fetched stay')
    .option('-p, --preset <name>', 'a shipped sweep preset')
    .option('--queue <url>', 'the queue the sweep was sent to')
    .addHelpText('after', '\nExamples:\n  emrl sweep cancel my-sweep.yaml --queue redis://10.0.0.5:6379')
    .action(
      ctx.guard(async (file: string | undefined, _o: unknown, cmd: Command) => {
        const opts = cmd.optsWithGlobals<{ preset?: string; queue?: string }>();
        const { sweepFile, target } = sweepAndQueue(file, opts);
        const name = loadSweepConfig(sweepFile).config.name ?? 'sweep';
        const queue = openCellQueue(target, ctx.err);
        try {
          const r = await cancelSweepJobs(queue, name);
          ctx.out(`removed ${r.removed} job(s) of sweep ${name} from ${target.display}${r.running.length ? `; ${r.running.length} running (${r.running.join(', ')}) left to finish` : ''}`);
        } finally {
          await queue.close();
        }
        return 0;
      }),
    );
}

/** `emrl worker`, the queue options of `emrl sweep`, and `emrl sweep status|cancel`. */
export function registerQueueCommands(program: Command, ctx: QueueCommandContext): void {
  registerWorker(program, ctx);
  const sweep = program.commands.find((c) => c.name() === 'sweep');
  if (!sweep) throw new Error('registerQueueCommands: register the sweep command first');
  sweep
    .option('--queue <url>', 'run the cells on "emrl worker" processes anywhere through Redis (BullMQ): redis://host:port or rediss://')
    .option('--artifacts <dir>', 'with --queue: shared directory (same path on every worker) for the cell run directories')
    .option('--attempts <n>', 'with --queue: tries per cell before it is marked failed', '2')
    .option('--retry-failed', 'with --queue: send cells that failed last time round again')
    .addHelpText('after', '\nOn many machines:\n  emrl sweep my-sweep.yaml --queue redis://10.0.0.5:6379      # here\n  emrl worker --queue redis://10.0.0.5:6379                   # on each machine\n  emrl sweep status my-sweep.yaml --queue redis://10.0.0.5:6379');
  registerStatus(sweep, ctx);
  registerCancel(sweep, ctx);
}
