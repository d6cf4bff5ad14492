import type { RunData } from '../report/load-run';
import { alignColumns, formatEvalTable, isEvalResult } from './eval-table';
import { accuracyInterval } from '../report/intervals';

type Ev = Record<string, unknown>;

/** The last boundary's probe accuracies with intervals (prompts = samples / k, k = 1 at T = 0). */
function probeLines(e: Ev, samplesPerPrompt: number): string[] {
  const d = (e['diagnostics'] ?? {}) as { accuracyByTemperature?: { temperature: number; accuracy: number; samples: number }[]; calibration?: { ece?: number } };
  const acc = d.accuracyByTemperature ?? [];
  if (acc.length === 0) return [];
  const rows = acc.map((a) => {
    const prompts = Math.max(1, Math.round(a.samples / (a.temperature === 0 ? 1 : samplesPerPrompt)));
    const ci = accuracyInterval(a.accuracy, prompts);
    return [String(a.temperature), a.accuracy.toFixed(3), `[${ci.lo.toFixed(3)}, ${ci.hi.toFixed(3)}]`, String(prompts)];
  });
  const ece = d.calibration?.ece !== undefined ? `; ECE ${d.calibration.ece.toFixed(3)}` : '';
  return [
    `probe diagnostics at ${String(e['boundary']).replace('after:', 'after ')} (${String(e['policy'])})${ece}; 95% CI = Wilson over prompts`,
    ...alignColumns([['T', 'accuracy', '95% CI', 'prompts'], ...rows]).map((l) => `  ${l}`),
  ];
}

/**
 * What a finished run prints: the table of every eval stage (from its `finished` result) and the
 * last boundary's probe accuracies. Empty when neither was recorded.
 */
export function runResultLines(run: Pick<RunData, 'events' | 'record'>): string[] {
  const out: string[] = [];
  for (const e of run.events) {
    if (e['type'] === 'finished' && isEvalResult(e['result'])) out.push('', ...formatEvalTable(`eval "${String(e['stage'])}"`, e['result']));
  }
  const last = [...run.events].reverse().find((e) => e['type'] === 'diagnostics');
  const pipeline = run.record.pipeline as { diagnostics?: { samplesPerPrompt?: number } };
  if (last) out.push('', ...probeLines(last, pipeline.diagnostics?.samplesPerPrompt ?? 1));
  return out;
}

/**
 * `backend: wasm (tfjs 4.22.0; native GEMM: on, 1 thread; threads: 2; skipped: tensorflow-gpu (not installed), ...)`.
 * `threads` (the run's worker threads + 1) appears when more than one ran, or with the reason fewer did.
 * The native GEMM part appears on wasm when the record has it (records before issue #15 do not).
 */
export function formatBackendLine(backend: unknown): string {
  if (!backend || typeof backend !== 'object') return `backend: ${String(backend ?? 'unknown')}`;
  const b = backend as {
    name?: string;
    tfjsVersion?: string;
    skipped?: { name: string; reason: string }[];
    kernelFixes?: string[];
    nativeGemm?: { used?: boolean; reason?: string; threads?: number };
    threads?: { used?: number; reason?: string };
  };
  const short = (s: string): string => (s.length > 60 ? `${s.slice(0, 57)}...` : s);
  const skipped = (b.skipped ?? []).map((s) => `${s.name} (${short(s.reason)})`);
  const g = b.name === 'wasm' ? b.nativeGemm : undefined;
  const native = g ? [g.used ? `native GEMM: on, ${g.threads ?? 1} thread${g.threads === 2 ? 's' : ''}` : `native GEMM: off (${short(g.reason ?? 'no reason recorded')})`] : [];
  const t = b.threads;
  const threads = t?.used !== undefined && (t.used > 1 || t.reason) ? [`threads: ${t.used}${t.reason ? ` (${short(t.reason)})` : ''}`] : [];
  const parts = [...(b.tfjsVersion ? [`tfjs ${b.tfjsVersion}`] : []), ...native, ...threads, ...(skipped.length > 0 ? [`skipped: ${skipped.join(', ')}`] : [])];
  return `backend: ${b.name ?? 'unknown'}${parts.length > 0 ? ` (${parts.join('; ')})` : ''}`;
}
