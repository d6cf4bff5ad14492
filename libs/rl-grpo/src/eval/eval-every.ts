import type { Policy } from '../policy';
import type { TrainerHooks } from '../stage-kit/plugin';
import type { Task } from '../tasks/task';
import { evaluate } from './evaluate';

export interface GreedyTestOptions {
  /** The first N prompts of the test split. */
  limit: number;
  maxNewTokens?: number;
  seed: number;
}

/**
 * Greedy accuracy on the task's test split (labels used for this measurement only), with the
 * task's diagnostics: eval_accuracy, eval_format_failure_rate, eval_<task extra>.
 */
export async function greedyTestMetrics(policy: Policy, task: Task, o: GreedyTestOptions): Promise<Record<string, number>> {
  const r = await evaluate(policy, task, { temperatures: [0], split: 'test', limit: o.limit, ...(o.maxNewTokens ? { maxNewTokens: o.maxNewTokens } : {}) }, { seed: o.seed });
  const t = r.byTemperature[0]!;
  const out: Record<string, number> = { eval_accuracy: t.accuracy, eval_format_failure_rate: t.formatFailureRate };
  for (const [k, v] of Object.entries(t.extra)) out[`eval_${k}`] = v;
  return out;
}

/**
 * Eval-every as hooks: after every `every`-th step, greedy test metrics join the step's metrics;
 * `listeners` (the stage's other hooks) get beforeEval / afterEval and may stop on the result.
 */
export function evalEveryHooks(o: GreedyTestOptions & { every: number; policy: Policy; task: Task }, listeners: TrainerHooks = {}): TrainerHooks {
  return {
    afterStep: async (info) => {
      if (o.every <= 0 || (info.step + 1) % o.every !== 0) return;
      const at = { stage: info.stage, step: info.step, totalSteps: info.totalSteps };
      await listeners.beforeEval?.(at);
      Object.assign(info.metrics, await greedyTestMetrics(o.policy, o.task, o));
      return listeners.afterEval?.({ ...at, metrics: info.metrics });
    },
  };
}
