import {
  evaluate,
  logitsBudgetBytes,
  probeLogitStatistics,
  type LogitProbeResult,
  type Policy,
  type Task,
  type TaskExample,
} from '@emrl/rl-grpo';
import type { DiagnoseContext } from './runtime';
import type { DiagnosticsRecord } from './report/diagnostics-schema';

/** Fixed per run: the probe prompts and the initial policy's responses to them. */
export interface ProbeSet {
  examples: TaskExample[];
  /** The initial policy's own samples at logitStatsTemperature: every boundary is also measured on these. */
  fixedResponses: number[][];
}

const SKEW_RAW = 'skewness/pooled/full_vocab/raw_logits';

function probeExamples(task: Task, size: number): TaskExample[] {
  const probe = task.split('probe');
  const pool = probe.length ? probe : task.split('test');
  if (pool.length === 0) throw new Error(`task "${task.name}" has neither a probe nor a test split; diagnostics need prompts`);
  return pool.slice(0, size);
}

/** Samples the fixed probe responses from the run's initial policy. */
export async function prepareProbeSet(policy: Policy, ctx: Omit<DiagnoseContext, 'probe'>): Promise<ProbeSet> {
  const examples = probeExamples(ctx.task, ctx.config.probeSize);
  const own = await probeLogitStatistics(policy, ctx.task, {
    examples,
    sampleTemperature: ctx.config.logitStatsTemperature,
    seed: ctx.seed,
    ...(ctx.config.logitsBudgetMiB === undefined ? {} : { logitsBudgetBytes: logitsBudgetBytes(ctx.config.logitsBudgetMiB) }),
    ...(ctx.config.maxNewTokens ? { maxNewTokens: ctx.config.maxNewTokens } : {}),
  });
  return { examples, fixedResponses: own.responses };
}

function figures(r: LogitProbeResult): Record<string, number | null> {
  return r.stats.figures;
}

/** Probe prompts whose sampled completion each boundary records (report: "Sample completions"). */
const SAMPLE_COUNT = 4;

/** The first `n` probe prompts with the completion sampled for the logit statistics, verified. */
export function sampleCompletions(policy: Policy, task: Task, examples: readonly TaskExample[], responses: readonly (readonly number[])[], n: number): { prompt: string; completion: string; answer: string; correct: boolean }[] {
  return examples.slice(0, n).map((ex, i) => {
    const completion = policy.tokenizer.decode([...(responses[i] ?? [])]);
    const v = task.verify(completion, ex);
    return { prompt: ex.prompt, completion, answer: v.extracted ?? '(none)', correct: v.correct };
  });
}

/**
 * The logit-shift record of one stage boundary: accuracy by temperature and calibration on the
 * probe prompts, and logit statistics in every scope on (a) the policy's own samples at
 * logitStatsTemperature and (b) the initial policy's fixed responses (same positions at every
 * boundary). The headline skewness is pooled, full-vocabulary, raw logits, own samples -- the
 * paper's measurement as far as it is specified (arXiv 2505.20282); every other scope is kept.
 */
export async function diagnosePolicy(policy: Policy, boundary: string, ctx: DiagnoseContext): Promise<DiagnosticsRecord> {
  const c = ctx.config;
  const probe = (ctx.probe as ProbeSet | undefined) ?? (await prepareProbeSet(policy, ctx));
  const k = c.samplesPerPrompt;
  const statsOpts = {
    temperature: 1,
    ...(c.logitStatsTopK > 0 ? { topK: c.logitStatsTopK } : {}),
    histogram: { min: -30, max: 30, bins: c.histogramBins },
  };
  const budget = logitsBudgetBytes(c.logitsBudgetMiB);
  const chunking = budget === undefined ? {} : { logitsBudgetBytes: budget };
  const own = await probeLogitStatistics(policy, ctx.task, {
    examples: probe.examples,
    sampleTemperature: c.logitStatsTemperature,
    seed: ctx.seed,
    stats: statsOpts,
    ...chunking,
    ...(c.maxNewTokens ? { maxNewTokens: c.maxNewTokens } : {}),
  });
  const fixed = await probeLogitStatistics(policy, ctx.task, { examples: probe.examples, responses: probe.fixedResponses, stats: statsOpts, ...chunking });
  const evalLimit = Math.max(c.probeSize, 1);
  const ev = await evaluate(
    policy,
    ctx.task,
    { temperatures: c.temperatures, samples: k, split: ctx.task.split('probe').length ? 'probe' : 'test', limit: evalLimit, ...(c.maxNewTokens ? { maxNewTokens: c.maxNewTokens } : {}) },
    { seed: ctx.seed },
  );
  const seqProb = ev.byTemperature
    .flatMap((t) => t.calibration.map((cal) => ({ ...cal, temperature: t.temperature })))
    .filter((cal) => cal.method === 'sequence-probability');
  const headline = seqProb.find((cal) => cal.temperature === 0) ?? seqProb[0];
  const o = figures(own);
  const num = (v: number | null | undefined) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  return {
    boundary,
    policy: policy.name,
    scope: `logits of the policy's own samples on ${probe.examples.length} probe prompts at T=${c.logitStatsTemperature}, response positions, raw logits, full vocabulary, pooled over positions (entropy at tau=1)`,
    accuracyByTemperature: ev.byTemperature.map((t) => ({ temperature: t.temperature, accuracy: t.accuracy, samples: ev.numPrompts * t.samplesPerPrompt })),
    logitStats: {
      skewness: num(o[SKEW_RAW]),
      entropy: num(o['entropy/per_position_mean']),
      maxProb: num(o['max_prob/mean']),
      top1Top2Gap: num(o['top1_top2_gap/mean']),
      top1Zscore: num(o['top1_zscore/mean']),
      logitMean: num(o['logit_mean/mean']),
      logitStd: num(o['logit_std/mean']),
    },
    calibration: {
      ece: headline?.ece ?? 0,
      brier: headline?.brier ?? 0,
      method: headline ? `sequence-probability at T=${headline.temperature}` : 'none',
    },
    histogram: { edges: own.stats.histogram.edges, counts: own.stats.histogram.counts },
    samples: sampleCompletions(policy, ctx.task, probe.examples, own.responses, SAMPLE_COUNT),
    samplesScope: `the policy's own sample at T=${c.logitStatsTemperature} on the first ${Math.min(SAMPLE_COUNT, probe.examples.length)} probe prompts`,
    allScopes: { ownSamples: own.stats.figures, fixedResponses: fixed.stats.figures },
    evaluation: ev.byTemperature.map((t) => ({
      temperature: t.temperature,
      accuracy: t.accuracy,
      passAtK: t.passAtK,
      majAtK: t.majAtK,
      meanLength: t.meanLength,
      formatFailureRate: t.formatFailureRate,
      extra: t.extra,
      calibration: t.calibration,
    })),
  } as DiagnosticsRecord;
}
