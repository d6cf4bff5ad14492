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
    calibration?: { method: string; ece: number; bins?: { count: number; meanConfidence: number | null; accuracy: number | null }[] }[];
  }[];
}

const f3 = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(3));

/** Left-aligned text columns. */
export function alignColumns(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd());
}

/** Header and cells of the eval table, and the confidence definition its ECE column uses. */
export function evalTableRows(r: EvalTableInput): { header: string[]; rows: string[][]; method?: string } {
  const ks = [...new Set(r.byTemperature.flatMap((t) => Object.keys(t.passAtK ?? {})))].map(Number).filter((k) => k > 1).sort((a, b) => a - b);
  const header = ['T', 'k', 'accuracy', '95% CI', ...ks.map((k) => `pass@${k}`), 'maj@k', 'ECE', 'mean len'];
  // One confidence definition for every row (sequence probability exists at every temperature).
  const methods = r.byTemperature.flatMap((t) => (t.calibration ?? []).map((c) => c.method));
  const method = methods.includes('sequence-probability') ? 'sequence-probability' : methods[0];
  const rows = r.byTemperature.map((t) => {
    const ci = accuracyInterval(t.accuracy, r.numPrompts);
    return [
      String(t.temperature),
      String(t.samplesPerPrompt),
      f3(t.accuracy),
      `[${f3(ci.lo)}, ${f3(ci.hi)}]`,
      ...ks.map((k) => f3(t.passAtK?.[String(k)])),
      t.samplesPerPrompt > 1 ? f3(t.majAtK) : '-',
      f3(t.calibration?.find((c) => c.method === method)?.ece),
      t.meanLength === undefined ? '-' : t.meanLength.toFixed(1),
    ];
  });
  return { header, rows, ...(method ? { method } : {}) };
}

/** One line saying what the table holds: prompts, split, interval, confidence definition. */
export function evalTableCaption(title: string, r: EvalTableInput, method?: string): string {
  return `${title}: ${r.numPrompts} prompts${r.split ? ` of the ${r.split} split` : ''}; 95% CI = Wilson over prompts${method ? `; ECE from ${method} confidence` : ''}`;
}

/**
 * The eval table: one row per temperature with accuracy (pass@1 over prompts and samples), its 95%
 * Wilson interval over prompts, pass@k, maj@k, ECE (one confidence definition) and mean length.
 */
export function formatEvalTable(title: string, r: EvalTableInput): string[] {
  const t = evalTableRows(r);
  return [evalTableCaption(title, r, t.method), ...alignColumns([t.header, ...t.rows]).map((l) => `  ${l}`)];
}

/** A `finished` event's result that is an evaluation table (rl-grpo EvalResult). */
export function isEvalResult(r: unknown): r is EvalTableInput {
  return !!r && typeof r === 'object' && Array.isArray((r as EvalTableInput).byTemperature) && typeof (r as EvalTableInput).numPrompts === 'number';
}
