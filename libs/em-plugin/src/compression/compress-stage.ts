import * as tf from '@tensorflow/tfjs-core';
import type { Observable } from 'rxjs';
import { z } from 'zod';
import { AdamW, CausalLM, packBatchArrays, toPackedBatch } from '@emrl/lm';
import { sampleGroups, saveTrainingCheckpoint, stepLoop, streamSeed, type Stage, type StageContext, type StageEvent, type StageFactory } from '@emrl/rl-grpo';
import { TemperatureAdapter, VectorScalingAdapter, saveAdapter, type CompressionAdapter } from './compression';
import { trainCompressionLayer, type LogitsBatch } from './compression-train';
import { mergeIntoHead } from './compression-merge';

const d = (description: string) => ({ description });

/**
 * Confidence compression: EM trains a small layer on a frozen model's logits from unlabeled
 * prompts. The layer is saved as its own file (`adapters/<name>.json` in the stage checkpoint),
 * applied to generation and evaluation through the model's logits adapter, and removable.
 */
export const CompressStageConfigSchema = z
  .object({
    adapter: z.enum(['temperature', 'vector-scaling']).default('temperature'),
    name: z.string().regex(/^[A-Za-z0-9._-]+$/).default('em-compress').meta(d('Adapter name (its file is adapters/<name>.json).')),
    rank: z.number().int().min(0).default(0).meta(d('vector-scaling only: rank of the low-rank output adapter (0: none).')),
    steps: z.number().int().positive().default(10),
    lr: z.number().positive().default(0.05),
    split: z.enum(['train', 'test', 'probe']).default('train').meta(d('Unlabeled prompts come from this split (answers unused).')),
    prompts: z.number().int().positive().default(16),
    rollouts: z.number().int().positive().default(4).meta(d('Samples per prompt from the frozen model.')),
    sampleTemperature: z.number().min(0).default(1),
    temperature: z.number().positive().default(1).meta(d('Entropy temperature tau of the EM objective.')),
    merge: z.boolean().default(false).meta(d('Fold the layer into the head weights where that is exact (temperature always; vector-scaling only for untied heads without bias), then remove the adapter.')),
  })
  .strict();
export type CompressStageConfig = z.infer<typeof CompressStageConfigSchema>;

export class CompressStage implements Stage<CompressStageConfig> {
  readonly kind = 'compress';
  constructor(
    readonly id: string,
    readonly config: CompressStageConfig,
  ) {}

  run(ctx: StageContext): Observable<StageEvent> {
    const c = this.config;
    const model = ctx.policy.model;
    let adapter: CompressionAdapter | null = null;
    let batch: LogitsBatch | null = null;
    let optimizer: AdamW | null = null;
    let last: Record<string, number> = {};
    let mergeNote: string | null = null;
    return stepLoop({
      stage: this.id,
      kind: this.kind,
      totalSteps: c.steps,
      setup: async () => {
        if (model.getLogitsAdapter()) throw new Error(`stage "${this.id}": the model already has a logits adapter ("${model.getLogitsAdapter()!.name}"); remove it first`);
        adapter = c.adapter === 'temperature' ? new TemperatureAdapter({ name: c.name }) : new VectorScalingAdapter({ name: c.name, vocabSize: model.config.vocabSize, rank: c.rank, seed: ctx.seed });
        const examples = ctx.task.split(c.split).slice(0, c.prompts);
        const r = await sampleGroups(ctx.policy, ctx.task, examples, c.rollouts, {
          temperature: c.sampleTemperature,
          topP: 1,
          topK: 0,
          maxNewTokens: ctx.task.maxCompletionLength,
          seed: streamSeed(ctx.seed, this.id, 'sample'),
        });
        const packed = packBatchArrays(r.promptIds, r.completionIds, ctx.policy.tokenizer.padTokenId);
        // The frozen model's logits are constants: compute them once.
        batch = tf.tidy(() => {
          const b = toPackedBatch(packed);
          const logits = model.forward(b.inputIds, { attentionMask: b.attentionMask });
          return { logits: tf.keep(logits), lossMask: tf.keep(b.lossMask), keep: true };
        });
        optimizer = new AdamW({ lr: c.lr, weightDecay: 0 }, { variables: adapter.variables() });
        return { startStep: 0, logs: [`compression layer "${c.name}" (${c.adapter}) on ${examples.length} prompts x ${c.rollouts} samples`] };
      },
      step: async () => {
        let rec = { loss: 0, gradNorm: 0 };
        await trainCompressionLayer({
          adapter: adapter!,
          logitsSource: () => batch!,
          steps: 1,
          optimizer: optimizer!,
          temperature: c.temperature,
          onStep: (r) => (rec = r),
        });
        last = { loss: rec.loss, 'em/entropy': rec.loss, grad_norm: rec.gradNorm };
        if (adapter instanceof TemperatureAdapter) last['compress/temperature'] = adapter.temperature();
        return { metrics: last };
      },
      checkpoint: async (_step, isLast) => {
        if (!isLast) return null;
        model.setLogitsAdapter(adapter);
        if (c.merge) {
          const hf = model.toHfTensors();
          const merged = mergeIntoHead(adapter!, hf);
          if (merged.ok) {
            // Assign through a model built from the merged HF tensors so internal layouts match.
            const mergedModel = CausalLM.fromHfTensors(model.config, merged.tensors);
            for (const [n, v] of model.weights) v.assign(mergedModel.weights.get(n)!);
            mergedModel.dispose();
            for (const name of merged.changed) merged.tensors.get(name)!.dispose();
            model.setLogitsAdapter(null);
            mergeNote = `merged into ${merged.changed.join(', ')} (${merged.method})`;
          } else {
            mergeNote = `not merged: ${merged.reason}`;
          }
          hf.forEach((t) => t.dispose());
        }
        if (!ctx.checkpointDir) return null;
        const saved = await saveTrainingCheckpoint(ctx.checkpointDir, { step: c.steps, policy: ctx.policy });
        await saveAdapter(adapter!, saved.path, { stage: this.id, seed: ctx.seed, merged: mergeNote ?? 'no' });
        return saved.path;
      },
      finish: async () => {
        if (!model.getLogitsAdapter() && !c.merge) model.setLogitsAdapter(adapter);
        return {
          policy: { ...ctx.policy, name: `${ctx.policy.name}>${this.id}` },
          summary: last,
          result: { adapter: adapter!.toJSON({ stage: this.id }), merge: mergeNote },
        };
      },
      teardown: () => {
        // The model keeps an attached adapter; one merged into the weights (or never attached) goes.
        if (adapter && model.getLogitsAdapter() !== adapter) adapter.dispose();
        if (batch) {
          batch.logits.dispose();
          batch.lossMask.dispose();
        }
        optimizer?.dispose();
      },
    });
  }
}

export const compressStageFactory: StageFactory<typeof CompressStageConfigSchema> = {
  kind: 'compress',
  schema: CompressStageConfigSchema,
  create: (id, config) => new CompressStage(id, config),
};
