import { writeRunReport } from './run-report';

/**
 * Rewrites a run's report.html whenever asked (at each stage boundary), one write at a time and
 * skipping requests that pile up while one runs, so a running or interrupted run has a report as
 * of its last boundary. A failed write is reported once through `warn` and never stops the run.
 */
export class ReportRefresher {
  private running: Promise<void> = Promise.resolve();
  private pending = false;
  private warned = false;

  constructor(
    private readonly dir: string,
    private readonly warn: (message: string) => void,
    private readonly write: (dir: string) => Promise<unknown> = writeRunReport,
  ) {}

  request(): void {
    if (this.pending) return;
    this.pending = true;
    this.running = this.running.then(async () => {
      this.pending = false;
      try {
        await this.write(this.dir);
      } catch (e) {
        if (!this.warned) this.warn(`could not refresh report.html: ${e instanceof Error ? e.message : String(e)}`);
        this.warned = true;
      }
    });
  }

  /** Resolves when every requested write has finished. */
  idle(): Promise<void> {
    return this.running;
  }
}
