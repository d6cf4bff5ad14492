// Rules that span stages or the task and the stages, checked when the pipeline file is parsed so a
// bad combination fails before any stage runs (issue 12: grpo.temperature 0 used to fail only after
// the earlier stages had trained for minutes).

/** A stage entry as parsed: its position in `stages`, kind and options (defaults filled). */
export interface IndexedStage {
  index: number;
  kind: string;
  options: unknown;
}

type SplitName = 'train' | 'test' | 'probe';

const field = (options: unknown, key: string): unknown =>
  options !== null && typeof options === 'object' ? (options as Record<string, unknown>)[key] : undefined;

/** Stage options whose 0 would mean greedy decoding where the stage needs several distinct samples. */
const SAMPLING_TEMPERATURES: Record<string, { key: string; why: string }> = {
  grpo: { key: 'temperature', why: 'GRPO samples groupSize completions per prompt and takes log-probs at logits / temperature' },
  select: { key: 'temperature', why: 'selection ranks prompts by the variance of correctness over samples, which is 0 for every prompt under greedy decoding' },
};

function temperatureProblems(stages: readonly IndexedStage[]): string[] {
  const out: string[] = [];
  for (const s of stages) {
    const rule = SAMPLING_TEMPERATURES[s.kind];
    if (rule && field(s.options, rule.key) === 0) {
      out.push(`stages[${s.index}].${s.kind}.${rule.key}: 0 means greedy decoding, but ${rule.why}; use a temperature > 0 (e.g. 1.0)`);
    }
  }
  return out;
}

function selectedPromptProblems(stages: readonly IndexedStage[]): string[] {
  const out: string[] = [];
  let selectSeen = false;
  for (const s of stages) {
    if (s.kind === 'select') selectSeen = true;
    if (s.kind === 'em' && field(s.options, 'prompt') === 'selected' && !selectSeen) {
      out.push(
        `stages[${s.index}].em.prompt: "selected" (the default) needs a select stage before it; add "- select: {}" earlier, ` +
          'or set prompt: { split: train, count: 1 } or prompt: { text: ["..."] }',
      );
    }
  }
  return out;
}

/**
 * Splits a JSONL task spec fills: train + test with splitTestFraction, else the one `split`
 * (default test). Null for other task types (generated tasks fill every split).
 */
export function jsonlSplits(task: unknown): SplitName[] | null {
  if (field(task, 'type') !== 'jsonl') return null;
  // One file per split (`train:`, `test:`, `probe:`): exactly those splits.
  const perSplit = (['train', 'test', 'probe'] as const).filter((k) => typeof field(task, k) === 'string');
  if (perSplit.length > 0) return [...perSplit];
  // One `path`: all of it in `split` when given, else a seeded train / test split (splitTestFraction, default 0.2).
  const split = field(task, 'split');
  if (split === 'train' || split === 'test' || split === 'probe') return [split];
  return ['train', 'test'];
}

/** The splits a stage reads prompts from, as `{ option path, split }`. */
function splitsRead(s: IndexedStage): { at: string; split: SplitName }[] {
  const out: { at: string; split: SplitName }[] = [];
  const add = (at: string, v: unknown): void => {
    if (v === 'train' || v === 'test' || v === 'probe') out.push({ at, split: v });
  };
  if (['grpo', 'select', 'compress', 'eval'].includes(s.kind)) add('split', field(s.options, 'split'));
  // In-training evaluation (grpo, em) measures on the test split.
  if ((s.kind === 'grpo' || s.kind === 'em') && Number(field(s.options, 'evalEvery')) > 0) add('evalEvery', 'test');
  if (s.kind === 'em') {
    add('prompt.split', field(field(s.options, 'prompt'), 'split'));
    add('earlyStop.split', field(field(s.options, 'earlyStop'), 'split'));
  }
  return out;
}

function splitProblems(task: unknown, stages: readonly IndexedStage[], diagnostics: boolean): string[] {
  const have = jsonlSplits(task);
  if (!have) return [];
  const out: string[] = [];
  if (diagnostics && !have.includes('test') && !have.includes('probe')) {
    out.push(
      `diagnostics: boundary diagnostics measure on the probe split (else test), but the JSONL task has only the "${have.join('" and "')}" split; ` +
        'drop task.split (one file is then split train/test by task.splitTestFraction, default 0.2), give a task.test file, or set diagnostics.enabled: false',
    );
  }
  for (const s of stages) {
    for (const { at, split } of splitsRead(s)) {
      if (have.includes(split)) continue;
      out.push(
        `stages[${s.index}].${s.kind}.${at}: reads the "${split}" split, but the JSONL task has only the "${have.join('" and "')}" split; ` +
          `give a task.${split} file, drop task.split (one file is then split train/test), or set ${s.kind}.${at}: ${have[0]}`,
      );
    }
  }
  return out;
}

export interface CrossStageContext {
  task: unknown;
  stages: readonly IndexedStage[];
  /** Whether boundary diagnostics run (they need probe or test prompts). */
  diagnostics: boolean;
}

/** Every cross-stage problem of a pipeline, one line each (empty when none). */
export function crossStageProblems(c: CrossStageContext): string[] {
  return [...temperatureProblems(c.stages), ...selectedPromptProblems(c.stages), ...splitProblems(c.task, c.stages, c.diagnostics)];
}
