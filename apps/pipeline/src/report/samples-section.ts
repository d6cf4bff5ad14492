import { escapeHtml, htmlTable } from './html';
import type { BoundaryRow } from './summary';

interface Sample {
  prompt: string;
  completion: string;
  answer?: string;
  correct?: boolean;
}

const isSample = (s: unknown): s is Sample => !!s && typeof s === 'object' && typeof (s as Sample).prompt === 'string' && typeof (s as Sample).completion === 'string';

/**
 * Sample completions per boundary, when the diagnostics record holds a `samples` list
 * ({ prompt, completion, answer?, correct? }); undefined when no boundary recorded any.
 */
export function sampleSection(rows: readonly BoundaryRow[]): string | undefined {
  const table: string[][] = [];
  let scope = 'Completions recorded at each boundary.';
  for (const r of rows) {
    const recorded = (r.record as { samplesScope?: unknown } | undefined)?.samplesScope;
    if (typeof recorded === 'string') scope = `At each boundary: ${recorded}.`;
    const samples = (r.record as { samples?: unknown } | undefined)?.samples;
    if (!Array.isArray(samples)) continue;
    for (const s of samples.filter(isSample)) table.push([r.label, s.prompt, s.completion, s.answer ?? '', s.correct === undefined ? '' : s.correct ? 'yes' : 'no']);
  }
  if (table.length === 0) return undefined;
  return `<p class="note">${escapeHtml(scope)}</p><div class="text">${htmlTable(['boundary', 'prompt', 'completion', 'answer', 'correct'], table)}</div>`;
}
