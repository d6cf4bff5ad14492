import * as tf from '@tensorflow/tfjs-core';
import type { Observable } from 'rxjs';
import { z } from 'zod';
import { AdamW, clipGlobalNorm, packBatchArrays, toPackedBatch } from '@emrl/lm';
import {
  findLatestCheckpoint,
  loadTrainingCheckpoint,
  sampleGroups,
  saveTrainingCheckpoint,
  stepLoop,
  streamSeed,
  type Stage,
  type StageContext,
  type StageEvent,
  type StageFactory,
  type TaskExample,
} from '@emrl/rl-grpo';
import { answerEntropy, majorityAnswer } from './answer-entropy';
import { tokenEntropyLoss } from './losses';
import type { SelectionResult } from './selection';

const d = (description: string) => ({ description });

export const EmPromptSourceSchema = z.union([
  z.literal('selected').meta(d('The prompt(s) chosen by an earlier select stage.')),
  z.object({ text: z.array(z.string().min(1)).min(1) }).strict().meta(d('Explicit prompt texts.')),
  z.object({ split: z.enum(['train', 'test', 'probe']), count: z.number().int().positive().default(1) }).strict(),
]);

/**
 * One-shot entropy minimization (arXiv 2505.20282) as a stage. Paper defaults: tau 0.5, top-p 0.95,
 * 64 rollouts, AdamW 2e-5, clip 1, 10 steps on a 7B model; the defaults here are the embedded
 * lab's scaled values (embedded-lab.md: 8 rollouts at T = 1, tau 0.5, lr 1e-4, 5-10 steps).
 */
export const EmStageConfigSchema = z
  .object({
    steps: z.number().int().positive().default(10),
    prompt: EmPromptSourceSchema.default('selected'),
    rollouts: z.number().int().positive().default(8).meta(d('Completions sampled per prompt per step (paper: 64).')),
    sampleTemperature: z.number().min(0).default(1).meta(d('Sampling temperature of the on-policy rollouts (paper: 0.5).')),
    topP: z.number().gt(0).max(1).default(1).meta(d('Nucleus sampling of the rollouts (paper: 0.95); 1 turns it off.')),
    temperature: z.number().positive().default(0.5).meta(d('Entropy temperature tau: H of softmax(z / tau).')),
    pooling: z.enum(['token-mean', 'sequence-mean']).default('token-mean'),
    lastFraction: z.number().gt(0).max(1).optional().meta(d('Count only the last fraction of each response (RENT, arXiv 2505.22660).')),
    lr: z.number().positive().default(1e-4),
    weightDecay: z.number().min(0).default(0.01),
    gradClip: z.number().min(0).default(1),
    maxNewTokens: z.number().int().positive().optional(),
    checkpointEvery: z.number().int().min(0).default(0).meta(d('Save every N steps (0: only at the end).')),
    logEvery: z.number().int().positive().default(1),
  })
  .strict();
export type EmStageConfig = z.infer<typeof EmStageConfigSchema>;

/** Resolves the EM prompts from config and earlier stages' results. */
export function resolveEmPrompts(config: EmStageConfig, ctx: StageContext, stageId: string): TaskExample[] {
  const p = config.prompt;
  if (p === 'selected') {
    const sel = Object.values(ctx.previous ?? {}).reverse().find((r) => r.kind === 'select');
    const result = sel?.result as SelectionResult | undefined;
    if (!result || !result.selected?.length) {
      throw new Error(`stage "${stageId}": prompt: "selected" needs an earlier select stage in the pipeline; add one, or set prompt: { text: [...] } or { split: train, count: 1 }`);
    }
    return result.selected.map((s) => ({ id: s.id, prompt: s.prompt, answer: '' }));
  }
  if ('text' in p) return p.text.map((text, i) => ({ id: `text-${i}`, prompt: text, answer: '' }));
  return ctx.task.split(p.split).slice(0, p.count);
}

/** The EM warm-start stage: on-policy rollouts of the chosen prompt(s), minimize their token entropy. */
export class EmStage implements Stage<EmStageConfig> {
  readonly kind = 'em';
  constructor(
    readonly id: string,
    readonly config: EmStageConfig,
  ) {}

  run(ctx: StageContext): Observable<StageEvent> {
    const c = this.config;
    let optimizer: AdamW | null = null;
    let prompts: TaskExample[] = [];
    let last: Record<string, number> = {};
    const policy = ctx.policy;
    return stepLoop({
      stage: this.id,
      kind: this.kind,
      totalSteps: c.steps,
      logEvery: c.logEvery,
      setup: async () => {
        prompts = resolveEmPrompts(c, ctx, this.id);
        optimizer = new AdamW({ lr: c.lr, weightDecay: c.weightDecay, gradClip: 0 }, { variables: policy.model.weights });
        const logs = [`EM on ${prompts.length} prompt(s): ${prompts.map((p) => JSON.stringify(p.prompt)).join(', ')}`];
        if (ctx.resumeStep !== undefined && ctx.checkpointDir) {
          const latest = await findLatestCheckpoint(ctx.checkpointDir);
          if (latest) {
            const { state, optimizerState } = await loadTrainingCheckpoint(latest.path, policy);
            optimizer.loadState(optimizerState);
            Object.values(optimizerState).forEach((t) => t.dispose());
            return { startStep: state.step, logs: [...logs, `resumed from ${latest.path} (step ${state.step})`] };
          }
        }
        return { startStep: 0, logs };
      },
      step: async (step) => {
        const t0 = performance.now();
        const r = await sampleGroups(policy, ctx.task, prompts, c.rollouts, {
          temperature: c.sampleTemperature,
          topP: c.topP,
          topK: 0,
          maxNewTokens: c.maxNewTokens ?? ctx.task.maxCompletionLength,
          seed: streamSeed(ctx.seed, this.id, step, 'sample'),
        });
        const tGen = performance.now();
        const packed = packBatchArrays(r.promptIds, r.completionIds, policy.tokenizer.padTokenId);
        const vars = policy.model.trainableVariables();
        const { value, grads } = tf.variableGrads(() => {
          const b = toPackedBatch(packed);
          const logits = policy.model.forward(b.inputIds, { attentionMask: b.attentionMask }); // [B, T, V]
          return tokenEntropyLoss({ logits, lossMask: b.lossMask, temperature: c.temperature, pooling: c.pooling, lastFraction: c.lastFraction });
        }, vars);
        const loss = (await value.data())[0]!;
        value.dispose();
        const clipped = clipGlobalNorm(grads, c.gradClip > 0 ? c.gradClip : Infinity);
        optimizer!.applyGradients(clipped.grads, c.lr);
        for (const g of Object.values(grads)) g.dispose();
        if (clipped.grads !== grads) for (const g of Object.values(clipped.grads)) g.dispose();
        const answers = r.completions.map((comp) => ctx.task.extractAnswer(comp));
        const lengths = r.completionIds.map((t) => t.length);
        const maj = majorityAnswer(answers);
        const tEnd = performance.now();
        last = {
          loss,
          'em/entropy': loss,
          grad_norm: clipped.norm,
          learning_rate: c.lr,
          'em/answer_entropy': answerEntropy(answers),
          'em/majority_share': maj ? maj.share : 0,
          'completions/mean_length': lengths.reduce((a, b) => a + b, 0) / lengths.length,
          'completions/clipped_ratio': r.truncated.filter(Boolean).length / r.truncated.length,
          'perf/step_time': (tEnd - t0) / 1000,
          'perf/generation_time': (tGen - t0) / 1000,
          'perf/tokens_per_sec': (packed.batchSize * packed.seqLen * 2) / ((tEnd - t0) / 1000),
        };
        return { metrics: last };
      },
      checkpoint: async (step, isLast) => {
        if (!ctx.checkpointDir) return null;
        if (!isLast && !(c.checkpointEvery > 0 && (step + 1) % c.checkpointEvery === 0)) return null;
        const saved = await saveTrainingCheckpoint(ctx.checkpointDir, { step: step + 1, policy, optimizerState: optimizer!.state() });
        return saved.path;
      },
      finish: async () => ({
        policy: { ...policy, name: `${policy.name}>${this.id}` },
        summary: last,
        result: { prompts: prompts.map((p) => ({ id: p.id, prompt: p.prompt })) },
      }),
      teardown: () => {
        optimizer?.dispose();
        optimizer = null;
      },
    });
  }
}

export const emStageFactory: StageFactory<typeof EmStageConfigSchema> = {
  kind: 'em',
  schema: EmStageConfigSchema,
  create: (id, config) => new EmStage(id, config),
};
