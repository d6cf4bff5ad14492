import type { ChatMessage } from '@emrl/lm';
import type { ChatTemplateMode } from './prompt-format';

/**
 * One verifiable problem. `prompt` is the plain-text prompt; a task with a chat format conditions
 * chat models on its chat-template render instead (prompt-format.ts `renderPrompt`).
 */
export interface TaskExample {
  id: string;
  prompt: string;
  /** The prompt as chat messages (system prompt, TRL conversational prompts); rendered by the chat template. */
  messages?: ChatMessage[];
  /** Reference answer (already normalized for built-in tasks). */
  answer: string;
  meta?: Record<string, unknown>;
}

/** Result of checking one completion against its example. */
export interface Verdict {
  correct: boolean;
  /** The extracted final answer, or null when the completion has no parsable answer. */
  extracted: string | null;
  /** False when the completion does not follow the task's answer format at all. */
  formatOk: boolean;
}

export type SplitName = 'train' | 'test' | 'probe';

/** A task: prompts with reference answers, a verifier, and pretraining text for base models. */
export interface Task {
  readonly name: string;
  /** Fixed-seed splits (deterministic for a given task config). */
  split(name: SplitName): readonly TaskExample[];
  verify(completion: string, example: TaskExample): Verdict;
  extractAnswer(completion: string): string | null;
  /** Strings that end a completion (e.g. "$" for modchain); generation stops on them. */
  readonly stopSequences: readonly string[];
  /** Whether prompts go through the model's chat template (prompt-format.ts); absent = off. */
  readonly chatTemplate?: ChatTemplateMode;
  /** The chat messages of one of this task's examples, looked up by id (undefined when unknown). */
  promptMessages?(example: TaskExample): ChatMessage[] | undefined;
  /** Maximum completion length in characters/bytes the task ever needs. */
  readonly maxCompletionLength: number;
  /** Pretraining documents (prompt + completion text) for building base models; deterministic in seed. */
  pretrainingDocuments?(count: number, seed: number): string[];
  /** Task-specific per-completion labels for diagnostics, e.g. { direct: 1 } for a modchain guess. */
  describeCompletion?(completion: string, example: TaskExample): Record<string, number>;
  /** A correct completion in the task's own format (for SFT and tests); built-in generated tasks only. */
  referenceCompletion?(example: TaskExample): string;
}
