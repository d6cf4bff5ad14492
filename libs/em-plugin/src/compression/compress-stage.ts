import type { Observable } from 'rxjs';
import { z } from 'zod';
import { CausalLM } from '@emrl/lm';
import {
  adapterParameters,
  FrozenBatchSampler,
  logitsBudgetBytes,
  LogitsBudgetMiBSchema,
  streamSeed,
  Trainer,
  stageCadence,
  trainingStage,
  type Stage,
  type StageContext,
  type StageEvent,
  type StageFactory,
} from '@emrl/rl-grpo';
import { TemperatureAdapter, VectorScalingAdapter, type CompressionAdapter } from './compression';
import { mergeIntoHead } from './compression-merge';
import { EmLossTerm } from '../regularizer/regularizer';

const d = (description: string) => ({ description });

/**
 * Confidence compression: EM trains a small layer on a frozen model's logits from unlabeled
 * prompts. The layer is saved as its own file (`adapters/<name>.json` in the stage checkpoint and
 * every later one), applied to generation and evaluation through the model's logits adapter, and
 * removable.
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
    checkpointEvery: z.number().int().min(0).default(10).meta(d('Save every N steps and at the end (0: only at the end).')),
    checkpointMinutes: z.number().min(0).default(10).meta(d('Also save when this many minutes passed since the last save (0: off).')),
    logitsBudgetMiB: LogitsBudgetMiBSchema,
  })
  .strict();
export type CompressStageConfig = z.infer<typeof CompressStageConfigSchema>;

/** Folds the adapter into the model's head weights in place; returns the merge note. */
function mergeAdapter(model: CausalLM, adapter: CompressionAdapter): string {
  const hf = model.toHfTensors();
  try {
    const merged = mergeIntoHead(adapter, hf);
    if (!merged.ok) return `not merged: ${merged.reason}`;
    // Assign through a model built from the merged HF tensors so internal layouts match.
    const mergedModel = CausalLM.fromHfTensors(model.config, merged.tensors);
    for (const [n, v] of model.weights) v.assign(mergedModel.weights.get(n)!);
    mergedModel.dispose();
    for (const name of merged.changed) merged.tensors.get(name)!.dispose();
    return `merged into ${merged.changed.join(', ')} (${merged.method})`;
  } finally {
    hf.forEach((t) => t.dispose());
  }
}

/**
 * The compression stage: the trainer on a frozen batch (the model's samples and raw logits,
 * computed once), the EM term on the adapted logits, and the adapter's variables as its only
 * parameters. At the end the adapter is attached to the model (or merged into its head).
 */
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
    let mergeNote: string | null = null;
    return trainingStage({
      ...stageCadence(this, c),
      ctx,
      build: () => {
        if (model.getLogitsAdapter()) throw new Error(`stage "${this.id}": the model already has a logits adapter ("${model.getLogitsAdapter()!.name}"); remove it first`);
        const a: CompressionAdapter =
          c.adapter === 'temperature' ? new TemperatureAdapter({ name: c.name }) : new VectorScalingAdapter({ name: c.name, vocabSize: model.config.vocabSize, rank: c.rank, seed: ctx.seed });
        adapter = a;
        a.provenance = { stage: this.id, seed: ctx.seed };
        const examples = ctx.task.split(c.split).slice(0, c.prompts);
        const sampler = new FrozenBatchSampler({
          policy: ctx.policy,
          task: ctx.task,
          prompts: examples,
          rollouts: c.rollouts,
          sampling: { temperature: c.sampleTemperature, topP: 1, topK: 0, maxNewTokens: ctx.task.maxCompletionLength, seed: streamSeed(ctx.seed, this.id, 'sample') },
          logitsBudgetBytes: logitsBudgetBytes(c.logitsBudgetMiB),
          stageId: this.id,
        });
        const hooks = {
          afterStep: (info: { metrics: Record<string, number> }) => {
            if (a instanceof TemperatureAdapter) info.metrics['compress/temperature'] = a.temperature();
          },
          // The model keeps an attached adapter; one merged into the weights (or never attached) goes.
          dispose: () => {
            if (model.getLogitsAdapter() !== a) a.dispose();
          },
        };
        const trainer = new Trainer({
          id: this.id,
          model,
          sampler,
          terms: [new EmLossTerm({ temperature: c.temperature, coef: { type: 'fixed', value: 1 } }, 'em')],
          parameters: adapterParameters(a),
          optimizer: { lr: c.lr, weightDecay: 0, gradClip: 0 },
          totalSteps: c.steps,
          temperature: c.temperature,
          logitsBudgetBytes: logitsBudgetBytes(c.logitsBudgetMiB),
          hooks,
        });
        return { trainer, hooks, logs: [`compression layer "${c.name}" (${c.adapter}) on ${examples.length} prompts x ${c.rollouts} samples`] };
      },
      beforeFinalCheckpoint: () => {
        if (c.merge) {
          mergeNote = mergeAdapter(model, adapter!);
          adapter!.provenance['merged'] = mergeNote;
          if (mergeNote.startsWith('merged')) return;
        }
        // Attached from here on: saved with this and every later checkpoint, applied by later stages.
        model.setLogitsAdapter(adapter);
      },
      result: () => ({ adapter: adapter!.toJSON(), merge: mergeNote }),
    });
  }
}

export const compressStageFactory: StageFactory<typeof CompressStageConfigSchema> = {
  kind: 'compress',
  schema: CompressStageConfigSchema,
  create: (id, config) => new CompressStage(id, config),
};
