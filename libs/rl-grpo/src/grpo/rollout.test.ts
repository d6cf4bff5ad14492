import { ByteTokenizer } from '@emrl/lm';
import { makeTinyModel, setupTestBackend } from '@emrl/lm/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Policy } from '../policy';
import { sampleGroups, stopTokensFor } from './rollout';
import type { Task, TaskExample } from '../tasks/task';

let policy: Policy;
beforeAll(async () => {
  await setupTestBackend();
  policy = { model: makeTinyModel({ family: 'gpt2', vocabSize: 258, seed: 1, weightScale: 1 }), tokenizer: new ByteTokenizer(), name: 'tiny' };
});
afterAll(() => policy.model.dispose());

const examples: TaskExample[] = [
  { id: 'a', prompt: 'ab:', answer: '1' },
  { id: 'b', prompt: 'xyz:', answer: '2' },
];
// Many one-byte stop strings so some rows stop early and some hit the length limit.
const stops = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'.split('');
const task: Task = {
  name: 't',
  split: () => examples,
  verify: () => ({ correct: false, extracted: null, formatOk: false }),
  extractAnswer: () => null,
  stopSequences: stops,
  maxCompletionLength: 5,
};

describe('sampleGroups', () => {
  it("stop tokens are the task stop strings plus the tokenizer's EOS and the model config's eos_token_id", () => {
    const ids = stopTokensFor(policy, task);
    const modelEos = policy.model.config.eosTokenId;
    expect(new Set(ids)).toEqual(new Set([...stops.map((s) => s.charCodeAt(0)), 257, ...(modelEos === null ? [] : [modelEos])]));
  });

  it('lays out G completions per prompt, prompt-major, with consistent truncation flags', async () => {
    const opts = { temperature: 1, topP: 1, topK: 0, maxNewTokens: 5, seed: 3 };
    const r = await sampleGroups(policy, task, examples, 3, opts);
    expect(r.groupIndex).toEqual([0, 0, 0, 1, 1, 1]);
    expect(r.examples.map((e) => e.id)).toEqual(['a', 'a', 'a', 'b', 'b', 'b']);
    expect(r.promptIds[4]).toEqual(new ByteTokenizer().encode('xyz:'));
    const stopSet = new Set(stopTokensFor(policy, task));
    r.completionIds.forEach((ids, i) => {
      const last = ids[ids.length - 1]!;
      expect(r.truncated[i]).toBe(ids.length === 5 && !stopSet.has(last));
      if (!r.truncated[i]) expect(stopSet.has(last)).toBe(true);
      expect(r.samplingLogprobs[i]).toHaveLength(ids.length);
      expect(r.completions[i]).toBe(policy.tokenizer.decode(ids));
    });
    expect(r.numGeneratedTokens).toBe(r.completionIds.reduce((a, t) => a + t.length, 0));
    expect(r.truncated.some((t) => t)).toBe(true);
    expect(r.truncated.some((t) => !t)).toBe(true);
    // Same seed, same samples.
    expect((await sampleGroups(policy, task, examples, 3, opts)).completionIds).toEqual(r.completionIds);
  });
});
