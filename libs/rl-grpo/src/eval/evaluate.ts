import { z } from 'zod';
import type { Policy } from '../policy';
import { sampleGroups, type Rollouts } from '../grpo/rollout';
import { streamSeed } from '../seed';
import type { SplitName, Task, TaskExample } from '../tasks/task';
import { calibration, majorityVote, meanPassAtK, sequenceProbabilityConfidence, type CalibrationBin, type ConfidencePair } from './metrics';

export const EvalConfigSchema = z
  .object({
    temperatures: z.array(z.number().min(0)).min(1).default([0, 0.3, 0.6, 1]).meta({ description: 'Evaluation temperatures; 0 = greedy (one sample per prompt).' }),
    samples: z.number().int().positive().default(4).meta({ description: 'Samples per prompt at temperatures > 0 (k for pass@k / maj@k).' }),
    split: z.enum(['train', 'test', 'probe']).default('test'),
    limit: z.number().int().positive().optional().meta({ description: 'Use only the first N prompts of the split.' }),
    topP: z.number().gt(0).max(1).default(1),
    maxNewTokens: z.number().int().positive().optional().meta({ description: "Default: the task's maxCompletionLength." }),
    batchSize: z.number().int().positive().default(256).meta({ description: 'Sequences per generate call.' }),
    calibrationBins: z.number().int().positive().default(10),
  })
  .strict();
export type EvalConfig = z.infer<typeof EvalConfigSchema>;

export interface CalibrationSummary {
  /** How confidence is defined (see eval/metrics.ts). */
  method: 'sample-consistency' | 'sequence-probability';
  ece: number;
  brier: number;
  meanConfidence: number;
  n: number;
  /** Equal-width confidence bins (reliability diagram); empty bins have count 0. */
  bins?: CalibrationBin[];
}

export interface TemperatureResult {
  temperature: number;
  samplesPerPrompt: number;
  /** pass@1 averaged over prompts and samples. */
  accuracy: number;
  passAtK: Record<string, number>;
  /** Majority vote of the samples is correct (k = samplesPerPrompt). */
  majAtK: number;
  meanLength: number;
  formatFailureRate: number;
  truncatedRate: number;
  /** Means of task.describeCompletion (e.g. modchain's `direct` rate). */
  extra: Record<string, number>;
  calibration: CalibrationSummary[];
}

export interface EvalResult {
  task: string;
  split: SplitName;
  numPrompts: number;
  seed: number;
  config: EvalConfig;
  byTemperature: TemperatureResult[];
  generatedTokens: number;
  seconds: number;
}

/**
 * Log-probs of the tokens that spell the extracted answer's last occurrence (byte-exact mapping:
 * token i covers the characters between decode(tokens[0..i)) and decode(tokens[0..i]); a token that
 * adds no character belongs to the character it completes). The scan
 * runs from the end and stops once a token ends before the answer, so it decodes only the tail
 * (the answer is last), not every prefix of a long completion.
 */
export function answerSpanLogprobs(policy: Policy, tokens: readonly number[], logprobs: readonly number[], answer: string): number[] {
  const text = policy.tokenizer.decode(tokens);
  const at = text.lastIndexOf(answer);
  if (at < 0) return [];
  const span: number[] = [];
  let end = text.length; // decode(tokens[0..i]).length for the current i
  for (let i = tokens.length - 1; i >= 0 && end > at; i--) {
    const start = i === 0 ? 0 : policy.tokenizer.decode(tokens.slice(0, i)).length;
    // A zero-width token (e.g. the second byte of a UTF-8 character) completes the character
    // before it: it belongs to the answer when that character does.
    const inside = end > start ? start < at + answer.length : start > at && start <= at + answer.length;
    if (inside) span.push(logprobs[i]!);
    end = start;
  }
  return span.reverse();
}

function summarize(method: CalibrationSummary['method'], pairs: ConfidencePair[], bins: number): CalibrationSummary[] {
  if (pairs.length === 0) return [];
  const r = calibration(pairs, bins);
  const meanConfidence = pairs.reduce((a, p) => a + p.confidence, 0) / pairs.length;
  return [{ method, ece: r.ece, brier: r.brier, meanConfidence, n: r.n, bins: r.bins }];
}

/**
 * Accuracy at each temperature with a fixed sampling seed, pass@k, maj@k, mean length, format
 * failures, task diagnostics and confidence calibration. Two confidence definitions are reported:
 * sample-consistency (share of k samples agreeing with the majority answer; needs k > 1) and
 * sequence-probability (exp of the mean log-prob of the answer tokens, per sample).
 * Sample g of example e at temperature T is drawn from its own stream, seeded by (seed, T, e.id, g),
 * so results do not depend on batchSize, on limit, or on the other prompts in a batch.
 */
/** Running sums of one temperature's samples; `result()` turns them into a TemperatureResult. */
class TemperatureTally {
  private readonly correctCounts: { n: number; c: number }[] = [];
  private majCorrect = 0;
  private lengthSum = 0;
  private formatFail = 0;
  private truncated = 0;
  private readonly extraSums: Record<string, number> = {};
  private readonly consistency: ConfidencePair[] = [];
  private readonly seqProb: ConfidencePair[] = [];
  private prompts = 0;

  constructor(
    private readonly policy: Policy,
    private readonly task: Task,
    readonly temperature: number,
    readonly k: number,
  ) {}

  /** The k samples of example `ex`: rows [p * k, (p + 1) * k) of `r`. */
  addExample(r: Rollouts, p: number, ex: TaskExample): void {
    const { task, k } = this;
    const answers: (string | null)[] = [];
    const flags: boolean[] = [];
    let correct = 0;
    for (let g = 0; g < k; g++) {
      const i = p * k + g;
      const completion = r.completions[i]!;
      const v = task.verify(completion, ex);
      answers.push(v.extracted);
      flags.push(v.correct);
      if (v.correct) correct++;
      if (!v.formatOk) this.formatFail++;
      if (r.truncated[i]) this.truncated++;
      this.lengthSum += r.completionIds[i]!.length;
      for (const [key, val] of Object.entries(task.describeCompletion?.(completion, ex) ?? {})) this.extraSums[key] = (this.extraSums[key] ?? 0) + val;
      if (v.extracted !== null) {
        const span = answerSpanLogprobs(this.policy, r.completionIds[i]!, r.samplingLogprobs[i]!, v.extracted);
        if (span.length) this.seqProb.push({ confidence: sequenceProbabilityConfidence(span).confidence, correct: v.correct });
      } else {
        this.seqProb.push({ confidence: 0, correct: false });
      }
    }
    this.correctCounts.push({ n: k, c: correct });
    const vote = majorityVote(answers);
    // Verdicts depend only on the extracted answer, so the vote is right iff a sample giving it was.
    const majCorrectHere = vote.answer !== null && answers.some((a, g) => a === vote.answer && flags[g]);
    if (majCorrectHere) this.majCorrect++;
    if (k > 1) this.consistency.push({ confidence: vote.count / k, correct: majCorrectHere });
    this.prompts++;
  }

  result(calibrationBins: number): TemperatureResult {
    const { k } = this;
    const n = this.prompts * k;
    const passAtK: Record<string, number> = {};
    for (const kk of [1, 2, 4, 8, 16, 32, 64].filter((x) => x <= k)) passAtK[String(kk)] = meanPassAtK(this.correctCounts, kk);
    if (!passAtK[String(k)]) passAtK[String(k)] = meanPassAtK(this.correctCounts, k);
    const extra: Record<string, number> = {};
    for (const [key, val] of Object.entries(this.extraSums)) extra[key] = val / n;
    return {
      temperature: this.temperature,
      samplesPerPrompt: k,
      accuracy: this.correctCounts.reduce((a, x) => a + x.c, 0) / n,
      passAtK,
      majAtK: this.majCorrect / this.prompts,
      meanLength: this.lengthSum / n,
      formatFailureRate: this.formatFail / n,
      truncatedRate: this.truncated / n,
      extra,
      calibration: [...summarize('sample-consistency', this.consistency, calibrationBins), ...summarize('sequence-probability', this.seqProb, calibrationBins)],
    };
  }
}

export async function evaluate(
  policy: Policy,
  task: Task,
  config: z.input<typeof EvalConfigSchema>,
  opts: { seed: number; onProgress?: (done: number, total: number) => void } = { seed: 0 },
): Promise<EvalResult> {
  const c = EvalConfigSchema.parse(config);
  const t0 = performance.now();
  const all = task.split(c.split);
  const examples: readonly TaskExample[] = c.limit ? all.slice(0, c.limit) : all;
  if (examples.length === 0) throw new Error(`evaluate: task "${task.name}" has no prompts in split "${c.split}"`);
  const maxNewTokens = c.maxNewTokens ?? task.maxCompletionLength;
  const byTemperature: TemperatureResult[] = [];
  let generatedTokens = 0;
  const total = c.temperatures.length * examples.length;
  let done = 0;
  for (const temperature of c.temperatures) {
    const tally = new TemperatureTally(policy, task, temperature, temperature === 0 ? 1 : c.samples);
    const promptsPerCall = Math.max(1, Math.floor(c.batchSize / tally.k));
    for (let start = 0; start < examples.length; start += promptsPerCall) {
      const chunk = examples.slice(start, start + promptsPerCall);
      const r = await sampleGroups(policy, task, chunk, tally.k, {
        temperature,
        topP: c.topP,
        topK: 0,
        maxNewTokens,
        seed: opts.seed, // unused: rowSeed below
        // Each (example, sample) has its own stream: results do not depend on batchSize or limit.
        rowSeed: (ex, g) => streamSeed(opts.seed, 'eval', temperature, ex.id, g),
      });
      generatedTokens += r.numGeneratedTokens;
      chunk.forEach((ex, p) => tally.addExample(r, p, ex));
      done += chunk.length;
      opts.onProgress?.(done, total);
    }
    byTemperature.push(tally.result(c.calibrationBins));
  }
  return { task: task.name, split: c.split, numPrompts: examples.length, seed: opts.seed, config: c, byTemperature, generatedTokens, seconds: (performance.now() - t0) / 1000 };
}
