import { ByteTokenizer } from '@emrl/lm';
import { makeTinyModel, setupTestBackend } from '@emrl/lm/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Policy } from '../policy';
import { sampleGroups, stopStringsFor, stopTokensFor } from './rollout';
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

describe('sampleGroups: stop strings on the decoded text', () => {
  const noStop: Task = { ...task, stopSequences: [], maxCompletionLength: 12 };
  const opts = { temperature: 1, topP: 1, topK: 0, maxNewTokens: 12, seed: 5 };

  /** Two consecutive printable ASCII tokens from an unstopped completion: a two-token stop string. */
  async function reference(): Promise<{ free: Awaited<ReturnType<typeof sampleGroups>>; stop: string }> {
    const free = await sampleGroups(policy, noStop, examples, 2, opts);
    const ascii = (id: number | undefined) => id !== undefined && id >= 32 && id < 127;
    for (const ids of free.completionIds) {
      for (let j = 2; j + 1 < ids.length; j++) if (ascii(ids[j]) && ascii(ids[j + 1])) return { free, stop: String.fromCharCode(ids[j]!, ids[j + 1]!) };
    }
    throw new Error('no two consecutive ASCII tokens in the reference completions; change the seed');
  }

  /** Each row must end at the first prefix whose decoded text holds `stop` (transformers' definition). */
  function expectCutAt(stopped: Awaited<ReturnType<typeof sampleGroups>>, free: Awaited<ReturnType<typeof sampleGroups>>, stop: string): number {
    let cut = 0;
    free.completionIds.forEach((ids, i) => {
      let n = 1;
      while (n <= ids.length && !policy.tokenizer.decode(ids.slice(0, n)).includes(stop)) n++;
      if (n > ids.length) {
        expect(stopped.completionIds[i]).toEqual(ids);
        return;
      }
      cut++;
      expect(stopped.completionIds[i]).toEqual(ids.slice(0, n));
      expect(stopped.completions[i]!.endsWith(stop)).toBe(true);
      expect(stopped.truncated[i]).toBe(false);
    });
    return cut;
  }

  it("a multi-token task stop string ends the completion where transformers' stop_strings would", async () => {
    const { free, stop } = await reference();
    expect(stopTokensFor(policy, { ...noStop, stopSequences: [stop] })).not.toContain(stop.charCodeAt(0)); // not a single token
    const stopped = await sampleGroups(policy, { ...noStop, stopSequences: [stop] }, examples, 2, opts);
    expect(expectCutAt(stopped, free, stop)).toBeGreaterThan(0);
  });

  it("generation_config.json's stop_strings stop generation too", async () => {
    const { free, stop } = await reference();
    const model = policy.model.clone();
    try {
      model.source = { dir: 'x', dtype: 'F32', generationConfig: { stop_strings: stop } };
      const p = { ...policy, model };
      expect(stopStringsFor(p, noStop)).toEqual([stop]);
      const stopped = await sampleGroups(p, noStop, examples, 2, opts);
      expect(expectCutAt(stopped, free, stop)).toBeGreaterThan(0);
    } finally {
      model.dispose();
    }
  });
});
