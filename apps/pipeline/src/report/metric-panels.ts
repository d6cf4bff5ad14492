import type { MetricsRow } from '../metrics-csv';

/**
 * One training-curve chart: the metrics that share a unit and scale. Each metric is drawn on
 * exactly one panel (a metric matching none is listed as "recorded, not plotted"), so e.g.
 * `rewards/accuracy/std` never lands on an accuracy axis and answer entropy (~1.5 nats per answer)
 * never shares an axis with token entropy (~0.05 nats per token). Names follow TRL's metric names.
 */
export interface MetricPanel {
  id: string;
  title: string;
  yTitle: string;
  match: (key: string) => boolean;
  /** Fixed y range (accuracies, fractions), or 'zero' to include 0 (small non-negative rates). */
  domain?: [number, number] | 'zero';
}

const is = (...keys: string[]) => (k: string): boolean => keys.includes(k);

export const METRIC_PANELS: readonly MetricPanel[] = [
  { id: 'loss', title: 'Loss', yTitle: 'loss', match: is('loss', 'policy_loss') },
  { id: 'reward', title: 'Reward (mean over completions)', yTitle: 'reward', match: (k) => k === 'reward' || /^rewards\/[^/]+\/mean$/.test(k) },
  { id: 'reward-std', title: 'Reward std (within groups)', yTitle: 'reward std', match: (k) => k === 'reward_std' || /^rewards\/[^/]+\/std$/.test(k) },
  { id: 'token-entropy', title: 'Token entropy', yTitle: 'nats per token', match: is('entropy', 'em/entropy', 'heldout/token_entropy') },
  { id: 'answer-entropy', title: 'Answer entropy (over extracted answers)', yTitle: 'nats per answer', match: is('em/answer_entropy', 'heldout/entropy') },
  { id: 'kl', title: 'KL to the reference (k3)', yTitle: 'KL (nats per token)', match: is('kl') },
  { id: 'grad-norm', title: 'Gradient norm (before clipping)', yTitle: 'global L2 norm', match: is('grad_norm') },
  { id: 'clip-ratio', title: 'Clip ratios', yTitle: 'fraction of tokens', match: (k) => k.startsWith('clip_ratio/'), domain: 'zero' },
  { id: 'completion-length', title: 'Completion length', yTitle: 'tokens', match: (k) => /^completions\/(mean|min|max)_length$/.test(k) },
  { id: 'fractions', title: 'Truncated completions, zero-std groups, answer agreement', yTitle: 'fraction', match: is('completions/clipped_ratio', 'frac_reward_zero_std', 'em/majority_share', 'heldout/agreement'), domain: [0, 1] },
  { id: 'lr', title: 'Learning rate', yTitle: 'learning rate', match: is('learning_rate') },
  { id: 'train-eval', title: 'In-training evaluation (greedy, test split)', yTitle: 'accuracy', match: (k) => k === 'eval_accuracy' || (k.startsWith('eval_') && k.includes('accuracy')), domain: [0, 1] },
];

/** Stage kinds whose metrics are measurements at one step, drawn elsewhere (eval table / chart). */
const NOT_TRAINING = new Set(['eval', 'select', 'diagnose']);

export interface PanelPoint {
  stage: string;
  step: number;
  value: number;
  series: string;
}

/** Long-format points of one panel, each stage on its own step axis (facet column). */
export function panelPoints(rows: readonly MetricsRow[], panel: MetricPanel, kindOf: (stage: string) => string | undefined): PanelPoint[] {
  const out: PanelPoint[] = [];
  for (const r of rows) {
    if (NOT_TRAINING.has(kindOf(r.stage) ?? r.stage)) continue;
    for (const [k, v] of Object.entries(r.metrics)) {
      if (panel.match(k) && Number.isFinite(v)) out.push({ stage: r.stage, step: r.step, value: v, series: k });
    }
  }
  return out;
}

/**
 * Series of one stage with identical values at every step (e.g. `reward` and `rewards/accuracy/mean`
 * with a single reward function) become one series named "a = b", so neither hides the other.
 */
export function mergeIdenticalSeries(points: readonly PanelPoint[]): PanelPoint[] {
  const byStage = new Map<string, Map<string, PanelPoint[]>>();
  for (const p of points) {
    const stage = byStage.get(p.stage) ?? new Map<string, PanelPoint[]>();
    stage.set(p.series, [...(stage.get(p.series) ?? []), p]);
    byStage.set(p.stage, stage);
  }
  const out: PanelPoint[] = [];
  for (const series of byStage.values()) {
    const groups = new Map<string, string[]>();
    for (const [name, pts] of series) {
      const key = JSON.stringify(pts.map((p) => [p.step, p.value]));
      groups.set(key, [...(groups.get(key) ?? []), name]);
    }
    for (const names of groups.values()) out.push(...series.get(names[0]!)!.map((p) => ({ ...p, series: names.join(' = ') })));
  }
  return out;
}

/** Metric names of training stages that no panel draws (listed under the charts). */
export function unplottedMetrics(rows: readonly MetricsRow[], kindOf: (stage: string) => string | undefined): string[] {
  const keys = new Set<string>();
  for (const r of rows) {
    if (NOT_TRAINING.has(kindOf(r.stage) ?? r.stage)) continue;
    for (const k of Object.keys(r.metrics)) if (!METRIC_PANELS.some((p) => p.match(k))) keys.add(k);
  }
  return [...keys].sort();
}
