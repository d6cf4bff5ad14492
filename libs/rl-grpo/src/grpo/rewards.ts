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

const registry = new Map<string, RewardFunction>();

/** Register a reward function by name so configs can use it (`rewards: [{ name, weight }]`). */
export function registerReward(name: string, fn: RewardFunction): void {
  registry.set(name, fn);
}

export function getReward(name: string): RewardFunction {
  const fn = registry.get(name);
  if (!fn) {
    throw new Error(`unknown reward function "${name}"; registered: ${[...registry.keys()].join(', ')}. Register it with registerReward(name, fn).`);
  }
  return fn;
}

export function listRewards(): string[] {
  return [...registry.keys()];
}

// Built-ins. "accuracy": 1 if the task's verifier accepts the completion, else 0.
registerReward('accuracy', ({ completion, example, task }) => (task.verify(completion, example).correct ? 1 : 0));
// "format": 1 if the completion follows the task's answer format (parsable answer), else 0.
registerReward('format', ({ completion, example, task }) => (task.verify(completion, example).formatOk ? 1 : 0));

export interface WeightedReward {
  name: string;
  weight: number;
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
  for (const { name, weight } of rewards) {
    const fn = getReward(name);
    const values = inputs.map((inp) => fn(inp));
    perFunction[name] = values;
    values.forEach((v, i) => {
      if (v !== null) total[i]! += weight * v;
    });
  }
  return { total, perFunction };
}
