import type { Task, TaskExample } from '../tasks/task';

/** What a reward function sees about one completion. */
export interface RewardInput {
  prompt: string;
  completion: string;
  example: TaskExample;
  task: Task;
  /** Whether generation hit the length limit before a stop token. */
  truncated: boolean;
  /** All completions of this prompt's group (this one included): for group-relative rewards such as majority vote. */
  group: readonly string[];
  /** Trainer state a reward may depend on (curricula). */
  state: { step: number; totalSteps: number };
}

/** Returns a number, or null for "not applicable" (excluded from this function's mean). */
export type RewardFunction = (input: RewardInput) => number | null;

/** "accuracy": 1 if the task's verifier accepts the completion, else 0. */
export const accuracyReward: RewardFunction = ({ completion, example, task }) => (task.verify(completion, example).correct ? 1 : 0);

/** "format": 1 if the completion follows the task's answer format (parsable answer), else 0. */
export const formatReward: RewardFunction = ({ completion, example, task }) => (task.verify(completion, example).formatOk ? 1 : 0);

export interface WeightedReward {
  name: string;
  weight: number;
  /** The function (resolved from a Registry by name). */
  fn: RewardFunction;
}

export interface ScoredCompletions {
  /** Weighted total per completion (null parts count as 0). */
  total: number[];
  /** Per function: raw values (null = not applicable). */
  perFunction: Record<string, (number | null)[]>;
}

/** Scores completions with several weighted reward functions (TRL's reward_funcs + reward_weights). */
export function scoreCompletions(inputs: RewardInput[], rewards: readonly WeightedReward[]): ScoredCompletions {
  const perFunction: Record<string, (number | null)[]> = {};
  const total = new Array<number>(inputs.length).fill(0);
  for (const { name, weight, fn } of rewards) {
    const values = inputs.map((inp) => fn(inp));
    perFunction[name] = values;
    values.forEach((v, i) => {
      if (v !== null) total[i]! += weight * v;
    });
  }
  return { total, perFunction };
}
