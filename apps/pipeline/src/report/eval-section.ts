import { evalTableCaption, evalTableRows, isEvalResult, type EvalTableInput } from '../console/eval-table';
import { escapeHtml, figure, htmlTable } from './html';
import { accuracyInterval } from './intervals';
import { renderSvg } from './plots';
import { accuracyIntervalsSpec, reliabilitySpec, type IntervalPoint } from './run-plots';

/** The eval stages' results, in run order (from their `finished` events). */
export function evalResults(events: readonly Record<string, unknown>[]): { stage: string; result: EvalTableInput }[] {
  return events.filter((e) => e['type'] === 'finished' && isEvalResult(e['result'])).map((e) => ({ stage: String(e['stage']), result: e['result'] as EvalTableInput }));
}

/** accuracy (with its Wilson interval over prompts), pass@k at the largest k and maj@k per temperature. */
export function evalIntervalPoints(r: EvalTableInput): IntervalPoint[] {
  const out: IntervalPoint[] = [];
  const kMax = Math.max(...r.byTemperature.map((t) => t.samplesPerPrompt));
  for (const t of r.byTemperature) {
    const ci = accuracyInterval(t.accuracy, r.numPrompts);
    out.push({ temperature: t.temperature, x: t.temperature, value: t.accuracy, lo: ci.lo, hi: ci.hi, series: 'accuracy (pass@1), 95% CI' });
    const pass = t.passAtK?.[String(kMax)];
    if (kMax > 1 && t.samplesPerPrompt === kMax && pass !== undefined) out.push({ temperature: t.temperature, x: t.temperature, value: pass, lo: pass, hi: pass, series: `pass@${kMax}` });
    if (t.samplesPerPrompt > 1 && t.majAtK !== undefined) out.push({ temperature: t.temperature, x: t.temperature, value: t.majAtK, lo: t.majAtK, hi: t.majAtK, series: `maj@${t.samplesPerPrompt}` });
  }
  return out;
}

/** Reliability bins of one confidence definition, a series per temperature (empty bins dropped). */
export function reliabilityBins(r: EvalTableInput, method: string): { confidence: number; accuracy: number; count: number; series: string }[] {
  return r.byTemperature.flatMap((t) => {
    const cal = t.calibration?.find((c) => c.method === method);
    return (cal?.bins ?? [])
      .filter((b) => b.count > 0 && b.meanConfidence !== null && b.accuracy !== null)
      .map((b) => ({ confidence: b.meanConfidence!, accuracy: b.accuracy!, count: b.count, series: `T=${t.temperature} (ECE ${cal!.ece.toFixed(3)})` }));
  });
}

/** "Held-out evaluation": the table, accuracy vs temperature with intervals, reliability diagram. */
export async function evalSection(events: readonly Record<string, unknown>[]): Promise<string | undefined> {
  const results = evalResults(events);
  if (results.length === 0) return undefined;
  const parts: string[] = [];
  for (const { stage, result } of results) {
    const t = evalTableRows(result);
    parts.push(`<p class="note">${escapeHtml(evalTableCaption(`eval stage "${stage}"`, result, t.method))}</p>`, htmlTable(t.header, t.rows));
    const title = { text: `Held-out accuracy vs temperature (${stage})`, subtitle: `${result.numPrompts} prompts${result.split ? ` of the ${result.split} split` : ''}; error bars: 95% Wilson interval over prompts` };
    parts.push(figure(await renderSvg(accuracyIntervalsSpec(title, evalIntervalPoints(result))), `plot-eval-temperature-${stage}`));
    const method = t.method ?? 'sequence-probability';
    const bins = reliabilityBins(result, method);
    if (bins.length > 0) {
      parts.push(figure(await renderSvg(reliabilitySpec({ text: `Reliability diagram (${stage})`, subtitle: `confidence: ${method}; point area = answers in bin` }, bins)), `plot-reliability-${stage}`));
    } else {
      parts.push(`<p class="note">No calibration bins recorded for ${escapeHtml(stage)} (runs from before bins were stored); the ECE column above still holds.</p>`);
    }
  }
  return parts.join('\n');
}
