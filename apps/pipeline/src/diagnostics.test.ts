import { ByteTokenizer } from '@emrl/lm';
import { makeTinyModel, setupTestBackend } from '@emrl/lm/testing';
import type { Policy, Task, TaskExample } from '@emrl/rl-grpo';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inheritStageTokenLimit } from './cli-shortcuts';
import { DiagnosticsConfigSchema } from './config/pipeline-schema';
import { diagnosePolicy, prepareProbeSet } from './diagnostics';

const tok = new ByteTokenizer();
let policy: Policy;
beforeAll(async () => {
  await setupTestBackend();
  // No stop string and a 1000-token task limit: a random model runs long unless told otherwise.
  policy = { model: makeTinyModel({ family: 'gpt2', vocabSize: 258, seed: 3, weightScale: 0.5 }), tokenizer: tok, name: 'p' };
});
afterAll(() => policy.model.dispose());

const examples: TaskExample[] = [
  { id: '0', prompt: 'a=', answer: '1' },
  { id: '1', prompt: 'bb=', answer: '2' },
];
const task: Task = {
  name: 'long',
  split: (s) => (s === 'test' ? examples : []),
  verify: () => ({ correct: false, extracted: null, formatOk: false }),
  extractAnswer: () => null,
  stopSequences: [],
  maxCompletionLength: 1000,
};

describe('boundary diagnostics honour maxNewTokens', () => {
  it('the probe samples stop at diagnostics.maxNewTokens, not at the task limit', async () => {
    const config = DiagnosticsConfigSchema.parse({ probeSize: 2, maxNewTokens: 3, logitStatsTemperature: 1 });
    const probe = await prepareProbeSet(policy, { task, config, seed: 1 });
    expect(probe.fixedResponses.map((r) => r.length)).toEqual([3, 3]);
  });

  it('a whole boundary record (own samples, fixed responses, accuracy by temperature) generates at most maxNewTokens per row', async () => {
    const config = DiagnosticsConfigSchema.parse({ probeSize: 2, maxNewTokens: 3, temperatures: [0, 1], samplesPerPrompt: 2, logitStatsTemperature: 1 });
    // Every generate() call is a prefill (empty cache) plus one forward per further token: at most
    // maxNewTokens forwards per call. Ignoring the bound would run to the task's 1000 tokens.
    const model = policy.model;
    const forward = model.forward.bind(model);
    let prefills = 0;
    let decodeForwards = 0;
    model.forward = (ids, opts = {}) => {
      if (opts.lastPositionOnly) {
        decodeForwards++;
        if ((opts.cache?.length ?? 0) === 0) prefills++;
      }
      return forward(ids, opts);
    };
    try {
      const record = await diagnosePolicy(policy, 'start', { task, config, seed: 1 });
      expect(record.boundary).toBe('start');
    } finally {
      model.forward = forward;
    }
    expect(prefills).toBeGreaterThan(0);
    expect(decodeForwards).toBeLessThanOrEqual(3 * prefills);
  });

  it('emrl eval --set eval.maxNewTokens=N sets diagnostics.maxNewTokens unless it is given', () => {
    const data = { stages: [{ eval: { maxNewTokens: 16 } }] };
    expect(inheritStageTokenLimit(data, 'eval')).toEqual({ ...data, diagnostics: { maxNewTokens: 16 } });
    const own = { ...data, diagnostics: { maxNewTokens: 4, probeSize: 2 } };
    expect(inheritStageTokenLimit(own, 'eval')).toEqual(own);
    expect(inheritStageTokenLimit({ stages: [{ eval: {} }] }, 'eval')).toEqual({ stages: [{ eval: {} }] });
  });
});

describe('boundary diagnostics honour logitsBudgetMiB', () => {
  it('a budget too small for whole logits (chunks of positions from the hidden states) gives the same record to 1e-5', async () => {
    const base = { probeSize: 2, maxNewTokens: 3, logitStatsTemperature: 1, temperatures: [0], samplesPerPrompt: 1 };
    const whole = DiagnosticsConfigSchema.parse(base);
    // 2^-20 MiB = 1 byte: every probe takes the chunked path, one position per chunk.
    const chunked = DiagnosticsConfigSchema.parse({ ...base, logitsBudgetMiB: 2 ** -20 });
    const probe = await prepareProbeSet(policy, { task, config: whole, seed: 1 });
    const a = await diagnosePolicy(policy, 'start', { task, config: whole, seed: 1, probe });
    const b = await diagnosePolicy(policy, 'start', { task, config: chunked, seed: 1, probe });
    expect(b.samples).toEqual(a.samples);
    expect(b.histogram).toEqual(a.histogram);
    const close = (x: Record<string, number | null>, y: Record<string, number | null>) => {
      expect(Object.keys(x)).toEqual(Object.keys(y));
      for (const [k, v] of Object.entries(y)) {
        if (v === null) expect(x[k]).toBeNull();
        else expect(Math.abs(x[k]! - v) / Math.max(1, Math.abs(v)), k).toBeLessThanOrEqual(1e-5);
      }
    };
    close(b.logitStats as Record<string, number>, a.logitStats as Record<string, number>);
    type Scopes = { ownSamples: Record<string, number | null>; fixedResponses: Record<string, number | null> };
    const [sa, sb] = [a.allScopes as Scopes, b.allScopes as Scopes];
    close(sb.ownSamples, sa.ownSamples);
    close(sb.fixedResponses, sa.fixedResponses);
  });
});
