import { cutAtStopString, generate, replicaUnsupported, stopStringsOf, type GenerateOptions } from '@emrl/lm';
import type { Policy } from '../policy';
import { encodePrompt } from '../tasks/prompt-format';
import type { Task, TaskExample } from '../tasks/task';

export interface SamplingOptions {
  temperature: number;
  topP: number;
  topK: number;
  maxNewTokens: number;
  seed: number;
  /** Seed of completion g of example e (overrides `seed`): samples then do not depend on the batch. */
  rowSeed?: (example: TaskExample, g: number) => number;
}

/** G completions for each of P prompts, flattened prompt-major: index = p * G + g. */
export interface Rollouts {
  examples: TaskExample[];
  groupIndex: number[];
  promptIds: number[][];
  completionIds: number[][];
  completions: string[];
  /** True when generation stopped at maxNewTokens without a stop token. */
  truncated: boolean[];
  /** Log-probs of the sampled tokens under the sampling distribution. */
  samplingLogprobs: number[][];
  numGeneratedTokens: number;
}

/**
 * Token ids that end a completion: the task's stop strings, the tokenizer's EOS and end-of-turn
 * tokens (`<|im_end|>`, `<|endoftext|>`, `<|eot_id|>`, ...: Tokenizer.endTokenIds), the model
 * config's eos_token_id, and `extra` (e.g. the eos_token_id list of generation_config.json).
 */
export function stopTokensFor(policy: Policy, task: Task, extra: readonly number[] = []): number[] {
  const { tokenizer } = policy;
  const ids = tokenizer.stopTokenIds(task.stopSequences);
  const modelEos = policy.model.config.eosTokenId;
  const ends = tokenizer.endTokenIds?.() ?? [tokenizer.eosTokenId];
  // model.stopTokenIds: generation_config.json's eos ids (a number or a list) with config.json's and the tokenizer's.
  return [...new Set([...ids, tokenizer.eosTokenId, ...ends, ...(modelEos === null ? [] : [modelEos]), ...policy.model.stopTokenIds, ...extra])];
}

/**
 * Strings that end a completion on its decoded text: the task's stop strings (multi-token ones
 * such as "\n\nProblem:" included) and generation_config.json's `stop_strings`.
 */
export function stopStringsFor(policy: Policy, task: Task): string[] {
  return [...new Set([...task.stopSequences, ...stopStringsOf(policy.model.source?.generationConfig)])];
}

/** Samples `groupSize` completions for each example in one batched, KV-cached generate call. */
export async function sampleGroups(
  policy: Policy,
  task: Task,
  examples: readonly TaskExample[],
  groupSize: number,
  opts: SamplingOptions,
): Promise<Rollouts> {
  const { tokenizer } = policy;
  const encoded = examples.map((ex) => encodePrompt(task, ex, tokenizer));
  const promptIds: number[][] = [];
  const flatExamples: TaskExample[] = [];
  const groupIndex: number[] = [];
  examples.forEach((ex, p) => {
    for (let g = 0; g < groupSize; g++) {
      promptIds.push(encoded[p]!);
      flatExamples.push(ex);
      groupIndex.push(p);
    }
  });
  const stopStrings = stopStringsFor(policy, task);
  const options: GenerateOptions = {
    maxNewTokens: opts.maxNewTokens,
    temperature: opts.temperature,
    topK: opts.topK,
    topP: opts.topP,
    stopTokenIds: stopTokensFor(policy, task),
    stopStrings: { strings: stopStrings, decode: (ids) => tokenizer.decode(ids) },
    padTokenId: tokenizer.padTokenId,
    seed: opts.seed,
    ...(opts.rowSeed ? { rowSeeds: flatExamples.map((ex, i) => opts.rowSeed!(ex, i % groupSize)) } : {}),
  };
  // With worker threads the rows are shared among them; every row keeps its own sampling stream.
  const workers = policy.workers && replicaUnsupported(policy.model) === null ? policy.workers : null;
  const out = workers ? await workers.generate(policy.model, tokenizer, promptIds, options) : await generate(policy.model, promptIds, options);
  return {
    examples: flatExamples,
    groupIndex,
    promptIds,
    completionIds: out.tokens,
    // Cut after the first stop string (the last token may spell text past it), as the model "said" it.
    completions: out.tokens.map((t) => cutAtStopString(tokenizer.decode(t), stopStrings)),
    truncated: out.finishReasons.map((r) => r === 'length'),
    samplingLogprobs: out.logprobs,
    numGeneratedTokens: out.numGeneratedTokens,
  };
}
