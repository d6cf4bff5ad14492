import type { Observable } from 'rxjs';
import type { PipelineEvent } from './pipeline-events';

export type RunOutcome = { status: 'ok' } | { status: 'interrupted'; signal: NodeJS.Signals } | { status: 'failed'; error: unknown };

/**
 * Subscribe to a pipeline until it completes. First SIGINT/SIGTERM unsubscribes (the stage stops
 * after its current step, state is written) and resolves "interrupted"; a second one exits at once.
 */
export function executeRun(events: Observable<PipelineEvent>, onEvent: (e: PipelineEvent) => void = () => {}): Promise<RunOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    const cleanup = (): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    };
    const settle = (o: RunOutcome): void => {
      if (settled) return;
      settled = true;
      cleanup();
      resolve(o);
    };
    function onSignal(signal: NodeJS.Signals): void {
      if (settled) process.exit(130);
      sub.unsubscribe();
      settle({ status: 'interrupted', signal });
      // A second signal while we finish writing forces the exit.
      process.once(signal, () => process.exit(130));
    }
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const sub = events.subscribe({
      next: (e) => {
        try {
          onEvent(e);
        } catch {
          // Display problems never stop a run.
        }
      },
      error: (error: unknown) => settle({ status: 'failed', error }),
      complete: () => settle({ status: 'ok' }),
    });
  });
}
