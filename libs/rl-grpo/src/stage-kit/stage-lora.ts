import type { z } from 'zod';
import { LoraConfigSchema, type CausalLM, type LoraConfig } from '@emrl/lm';
import { streamSeed } from '../seed';

/**
 * The `lora` option of a training stage: lm's LoraConfigSchema (PEFT's LoraConfig). `dropout` acts
 * on the adapter input in the trainer's loss forward only (train mode), never in sampling or eval.
 */
export const StageLoraConfigSchema = LoraConfigSchema.meta({
  description:
    'LoRA (arXiv 2106.09685) on this stage: only the adapter A/B matrices get gradients and optimizer state, the base weights stay frozen; absent = full fine-tuning (or continue training an adapter the policy already carries)',
});
export type StageLoraConfig = z.infer<typeof StageLoraConfigSchema>;

/** What a stage did about LoRA when it was built. */
export interface StageLora {
  /** True when this stage attached a fresh adapter (its GRPO reference is then the base without it). */
  attachedByStage: boolean;
  /** A line for the stage log, or null when no adapter is involved. */
  log: string | null;
}

function sameLora(a: LoraConfig, b: LoraConfig): boolean {
  const targets = (c: LoraConfig) => [...c.targetModules].sort().join(',');
  return a.r === b.r && a.alpha === b.alpha && a.dropout === b.dropout && a.useRslora === b.useRslora && targets(a) === targets(b);
}

function describeLora(c: LoraConfig): string {
  return `r ${c.r}, alpha ${c.alpha}, targets ${c.targetModules.join(' ')}${c.dropout > 0 ? `, dropout ${c.dropout}` : ''}${c.useRslora ? ', rslora' : ''}`;
}

/**
 * Attaches the stage's LoRA adapter to `model` (seeded from the run seed and the stage id), unless
 * the model already carries one: then the stage continues training that adapter, and a `lora`
 * option that differs from it is an error naming both.
 */
export function prepareStageLora(model: CausalLM, lora: LoraConfig | undefined, o: { seed: number; stageId: string }): StageLora {
  const attached = model.getLora();
  if (attached) {
    if (lora && !sameLora(attached.config, lora)) {
      throw new Error(
        `stage "${o.stageId}": lora (${describeLora(lora)}) differs from the LoRA adapter the policy already carries (${describeLora(attached.config)}); ` +
          'set lora to the attached adapter\'s options, or remove the lora option to continue training the attached adapter',
      );
    }
    return {
      attachedByStage: false,
      log: `continuing to train the LoRA adapter the policy carries (${describeLora(attached.config)}; ${attached.numParameters()} parameters); base weights frozen`,
    };
  }
  if (!lora) return { attachedByStage: false, log: null };
  let adapter;
  try {
    adapter = model.attachLora(lora, streamSeed(o.seed, o.stageId, 'lora'));
  } catch (err) {
    throw new Error(`stage "${o.stageId}": lora.targetModules: ${(err as Error).message.replace(/^lora: /, '')}`);
  }
  const share = ((100 * adapter.numParameters()) / model.numParameters()).toFixed(2);
  return { attachedByStage: true, log: `attached LoRA (${describeLora(lora)}): ${adapter.numParameters()} trainable parameters (${share}% of the base); base weights frozen` };
}
