import type { PipelineEvent } from './pipeline-events';

/** What the progress line shows for the running stage. */
export interface ProgressState {
  stage: string;
  step: number;
  totalSteps: number;
  loss?: number;
  reward?: number;
  tokensPerSec?: number;
  /** Seconds left; from the stage, else estimated from elapsed time. */
  etaSec?: number;
}

export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '--';
  const s = Math.round(sec);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function formatNumber(x: number): string {
  if (x === 0) return '0';
  const a = Math.abs(x);
  return a >= 1e4 || a < 1e-3 ? x.toExponential(2) : x.toPrecision(4).replace(/\.?0+$/, '');
}

/** Linear ETA from elapsed time and steps done. */
export function estimateEta(elapsedSec: number, step: number, totalSteps: number): number | undefined {
  if (step <= 0 || totalSteps <= step) return step >= totalSteps ? 0 : undefined;
  return (elapsedSec / step) * (totalSteps - step);
}

/** `em  [#######-----]  7/12  loss 0.512  reward 0.25  312 tok/s  ETA 1m05s`, cut to `width`. */
export function formatProgressLine(p: ProgressState, width = 100): string {
  const frac = p.totalSteps > 0 ? Math.min(1, p.step / p.totalSteps) : 0;
  const barW = 20;
  const filled = Math.round(frac * barW);
  const parts = [
    p.stage.padEnd(8),
    `[${'#'.repeat(filled)}${'-'.repeat(barW - filled)}]`,
    `${p.step}/${p.totalSteps}`,
    ...(p.loss !== undefined ? [`loss ${formatNumber(p.loss)}`] : []),
    ...(p.reward !== undefined ? [`reward ${formatNumber(p.reward)}`] : []),
    ...(p.tokensPerSec !== undefined ? [`${Math.round(p.tokensPerSec)} tok/s`] : []),
    ...(p.etaSec !== undefined ? [`ETA ${formatDuration(p.etaSec)}`] : []),
  ];
  const line = parts.join('  ');
  return line.length > width ? line.slice(0, Math.max(0, width - 1)) + '…' : line;
}

/** One log line for non-TTY output: `[em] step 7/12 loss=0.512 reward=0.25 tok/s=312 eta=1m05s`. */
export function formatLogLine(p: ProgressState): string {
  const kv = [
    `step ${p.step}/${p.totalSteps}`,
    ...(p.loss !== undefined ? [`loss=${formatNumber(p.loss)}`] : []),
    ...(p.reward !== undefined ? [`reward=${formatNumber(p.reward)}`] : []),
    ...(p.tokensPerSec !== undefined ? [`tok/s=${Math.round(p.tokensPerSec)}`] : []),
    ...(p.etaSec !== undefined ? [`eta=${formatDuration(p.etaSec)}`] : []),
  ];
  return `[${p.stage}] ${kv.join(' ')}`;
}

/** One line for a boundary diagnostics event: accuracy by temperature, skewness, entropy, ECE. */
export function formatDiagnosticsLine(e: Extract<PipelineEvent, { type: 'diagnostics' }>): string {
  const d = e.diagnostics as {
    accuracyByTemperature?: { temperature: number; accuracy: number }[];
    logitStats?: { skewness?: number; entropy?: number };
    calibration?: { ece?: number };
  };
  const acc = (d.accuracyByTemperature ?? []).map((a) => `acc@T${a.temperature}=${formatNumber(a.accuracy)}`);
  const extra = [
    ...(d.logitStats?.skewness !== undefined ? [`skew=${formatNumber(d.logitStats.skewness)}`] : []),
    ...(d.logitStats?.entropy !== undefined ? [`entropy=${formatNumber(d.logitStats.entropy)}`] : []),
    ...(d.calibration?.ece !== undefined ? [`ece=${formatNumber(d.calibration.ece)}`] : []),
  ];
  return `[diagnostics ${e.boundary}] ${e.policy} ${[...acc, ...extra].join(' ')}`.trimEnd();
}

/**
 * The one line a finished stage leaves in the scrollback: wall time, the policy it produced, an early
 * stop, and its summary metrics (up to 8, in the stage's order).
 */
export function formatFinishedLine(e: Extract<PipelineEvent, { type: 'finished' }>, wallSec?: number): string {
  const name = typeof e.policy === 'string' ? e.policy : e.policy.name;
  const entries = Object.entries(e.summary ?? {}).filter(([, v]) => typeof v === 'number' && Number.isFinite(v));
  const shown = entries.slice(0, 8).map(([k, v]) => `${k}=${formatNumber(v)}`);
  const more = entries.length > 8 ? ` (+${entries.length - 8} more in summary.json)` : '';
  return [
    `[${e.stage}] finished${wallSec !== undefined ? ` in ${formatDuration(wallSec)}` : ''} -> ${name}`,
    ...(e.stopped ? [`(stopped at step ${e.stopped.step}: ${e.stopped.reason})`] : []),
    ...(shown.length > 0 ? [`| ${shown.join(' ')}${more}`] : []),
  ].join(' ');
}

export interface ProgressOutput {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Renders pipeline events: an in-place line on a TTY, else a log line every `every` steps. */
export class ProgressReporter {
  private started = new Map<string, number>();
  private live = false;

  constructor(
    private readonly out: ProgressOutput,
    private readonly opts: { every?: number; now?: () => number } = {},
  ) {}

  private line(s: string): void {
    if (this.live) this.out.write('\r\x1b[2K');
    this.live = false;
    this.out.write(s + '\n');
  }

  handle(e: PipelineEvent): void {
    const now = this.opts.now ?? Date.now;
    switch (e.type) {
      case 'run-started':
        this.line(`run ${e.run}${e.resumed ? ' (resumed)' : ''}: ${e.stages.map((s) => s.id).join(' -> ') || '(no stages)'}`);
        break;
      case 'started':
        this.started.set(e.stage, now());
        this.line(`[${e.stage}] started (${e.totalSteps} steps)`);
        break;
      case 'stage-resumed':
        this.started.set(e.stage, now());
        this.line(`[${e.stage}] resumed after step ${e.fromStep}`);
        break;
      case 'stage-skipped':
        this.line(`[${e.stage}] already completed, skipped`);
        break;
      case 'progress': {
        const t0 = this.started.get(e.stage) ?? now();
        const p: ProgressState = { ...e, etaSec: e.etaSec ?? estimateEta((now() - t0) / 1000, e.step, e.totalSteps) };
        if (this.out.isTTY) {
          this.out.write(`\r\x1b[2K${formatProgressLine(p, (this.out.columns && this.out.columns >= 40 ? this.out.columns : 100) - 1)}`);
          this.live = true;
        } else if (e.step % (this.opts.every ?? 10) === 0 || e.step === e.totalSteps) {
          this.line(formatLogLine(p));
        }
        break;
      }
      case 'finished': {
        // The live bar stays in the scrollback (newline, not erase): it holds the last step's numbers.
        if (this.live) this.out.write('\n');
        this.live = false;
        const t0 = this.started.get(e.stage);
        this.line(formatFinishedLine(e, t0 !== undefined ? (now() - t0) / 1000 : undefined));
        break;
      }
      case 'log':
        this.line(`[${e.stage}] ${e.level === 'warn' ? 'warning: ' : ''}${e.message}`);
        break;
      case 'diagnostics':
        this.line(formatDiagnosticsLine(e));
        break;
      case 'run-finished':
        this.line(`run finished in ${formatDuration(e.totalWallMs / 1000)}`);
        break;
      default:
        break;
    }
  }
}
