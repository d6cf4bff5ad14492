import { parsePipelineConfig } from '../config/load-config';
import { executeRun } from '../execute';
import { stopWhenParentDies } from '../parent-watch';
import { ProgressReporter } from '../progress';
import { writeRunReport } from '../report/run-report';
import { RunDir } from '../run-dir';
import { resumeRun, startRun } from '../runner';
import type { PipelineRuntime } from '../runtime';
import type { WorkerJob } from './run-sweep';

/** Body of a sweep worker process: receive one job, run or resume it, exit 0 / 1 / 130. */
export function runSweepWorker(runtime: PipelineRuntime): void {
  process.once('message', (job: WorkerJob) => {
    stopWhenParentDies();
    void (async () => {
      try {
        const prepared = RunDir.isRunDir(job.runDir) && RunDir.claim(job.runDir, 'sweep resume').readState()
          ? await resumeRun({ dir: job.runDir, runtime })
          : await startRun({ config: parsePipelineConfig(job.pipeline, job.label, runtime.registry), runtime, dir: job.runDir });
        const reporter = new ProgressReporter(process.stderr, { every: 10 });
        const outcome = await executeRun(prepared.events, (e) => reporter.handle(e));
        if (outcome.status === 'ok') await writeRunReport(prepared.runDir.dir);
        if (outcome.status === 'failed') process.stderr.write(`failed: ${outcome.error instanceof Error ? outcome.error.message : String(outcome.error)}\n`);
        process.exit(outcome.status === 'ok' ? 0 : outcome.status === 'interrupted' ? 130 : 1);
      } catch (e) {
        process.stderr.write(`failed: ${e instanceof Error ? e.message : String(e)}\n`);
        process.exit(1);
      }
    })();
  });
}
