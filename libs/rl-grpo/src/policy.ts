import type { CausalLM, ModelWorkers, Tokenizer } from '@emrl/lm';

/**
 * What stages pass to each other: a model with its tokenizer. A stage that trains returns a new
 * Policy (it may reuse the same model object, updated in place) in its `finished` event.
 */
export interface Policy {
  model: CausalLM;
  tokenizer: Tokenizer;
  /** Human-readable provenance, e.g. "embedded-modchain-byte" or "em@step10". */
  name: string;
  /**
   * The run's worker threads (threads - 1; absent = one thread): generation, scoring and gradient
   * passes on this policy share their rows with them. Stages pass it on with the policy.
   */
  workers?: ModelWorkers;
}
