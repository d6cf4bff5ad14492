import { accuracyInterval } from '../report/intervals';

/** The fields of rl-grpo's EvalResult the console prints (kept structural: events.jsonl holds JSON). */
export interface EvalTableInput {
  split?: string;
  numPrompts: number;
  byTemperature: {
    temperature: number;
    samplesPerPrompt: number;
    accuracy: number;
    passAtK?: Record<string, number>;
    majAtK?: number;
    meanLength?: number;
    calibration?: { method: string; ece: number }[];
  }[];
}

const f3 = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(3));

/** Left-aligned text columns. */
export function alignColumns(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd());
}

/**
 * The eval table: one row per temperature with accuracy (pass@1 over prompts and samples), its 95%
 * Wilson interval over prompts, pass@k, maj@k, ECE (first recorded confidence method) and mean length.
 */
export function formatEvalTable(title: string, r: EvalTableInput): string[] {
  const ks = [...new Set(r.byTemperature.flatMap((t) => Object.keys(t.passAtK ?? {})))].map(Number).filter((k) => k > 1).sort((a, b) => a - b);
  const header = ['T', 'k', 'accuracy', '95% CI', ...ks.map((k) => `pass@${k}`), 'maj@k', 'ECE', 'mean len'];
  const rows = r.byTemperature.map((t) => {
    const ci = accuracyInterval(t.accuracy, r.numPrompts);
    return [
      String(t.temperature),
      String(t.samplesPerPrompt),
      f3(t.accuracy),
      `[${f3(ci.lo)}, ${f3(ci.hi)}]`,
      ...ks.map((k) => f3(t.passAtK?.[String(k)])),
      t.samplesPerPrompt > 1 ? f3(t.majAtK) : '-',
      f3(t.calibration?.[0]?.ece),
      t.meanLength === undefined ? '-' : t.meanLength.toFixed(1),
    ];
  });
  const method = r.byTemperature.find((t) => t.calibration?.[0])?.calibration?.[0]?.method;
  return [
    `${title}: ${r.numPrompts} prompts${r.split ? ` of the ${r.split} split` : ''}; 95% CI = Wilson over prompts${method ? `; ECE from ${method} confidence` : ''}`,
    ...alignColumns([header, ...rows]).map((l) => `  ${l}`),
  ];
}
