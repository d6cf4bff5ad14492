import { z } from 'zod';
import type { ModelConfig } from '../config';
import { parseLoraConfig, type LoraConfig } from './lora-config';

/**
 * PEFT's adapter_config.json (LoraConfig.to_dict()) for the fields that change what the adapter
 * computes. Unknown fields are kept; a field whose value emrl does not implement is an error
 * naming it (never ignored).
 */
/** The fix for a PEFT option emrl does not implement: merge in Python, or train without it. */
const MERGE_FIX = "merge the adapter in Python (PeftModel.merge_and_unload(), save_pretrained) and point model.path at the merged directory, or retrain the adapter without it";
const refused = (what: string) => ({ error: `${what}: not supported by emrl; ${MERGE_FIX}` });

export const PeftAdapterConfigSchema = z
  .object({
    peft_type: z.literal('LORA', { error: 'emrl loads LoRA adapters only (peft_type "LORA"); merge any other adapter type in Python and load the merged model' }),
    task_type: z.string().nullable().optional(),
    r: z.number().int().positive(),
    lora_alpha: z.number().positive(),
    lora_dropout: z.number().min(0).lt(1).default(0),
    target_modules: z
      .array(z.string(), { error: 'a regex string or "all-linear" is not supported: list the module names, e.g. ["q_proj", "v_proj"]' })
      .min(1)
      .meta({ description: 'a list of module names (a regex string is not supported)' }),
    bias: z.literal('none', refused('training biases (bias "all" / "lora_only")')).default('none').meta({ description: 'bias training is not supported' }),
    use_rslora: z.boolean().default(false),
    use_dora: z.literal(false, refused('DoRA (use_dora: true)')).default(false).meta({ description: 'DoRA is not supported' }),
    lora_bias: z.literal(false, refused('a bias on lora_B (lora_bias: true)')).optional().meta({ description: 'a bias on lora_B is not supported' }),
    exclude_modules: z.null(refused('exclude_modules')).optional().meta({ description: 'excluded modules are not supported' }),
    target_parameters: z.null(refused('LoRA on raw parameters (target_parameters)')).optional().meta({ description: 'LoRA on raw parameters is not supported' }),
    fan_in_fan_out: z.boolean().default(false),
    modules_to_save: z.null(refused('fully trained extra modules (modules_to_save, e.g. lm_head or embed_tokens)')).optional().meta({ description: 'fully trained extra modules are not supported' }),
    layers_to_transform: z.null(refused('adapters on a subset of layers (layers_to_transform)')).optional().meta({ description: 'adapters on a subset of layers are not supported' }),
    rank_pattern: z.record(z.string(), z.never(refused('a per-module rank (rank_pattern)'))).optional().meta({ description: 'per-module ranks are not supported' }),
    alpha_pattern: z.record(z.string(), z.never(refused('a per-module alpha (alpha_pattern)'))).optional().meta({ description: 'per-module alphas are not supported' }),
    base_model_name_or_path: z.string().nullable().optional(),
    init_lora_weights: z.unknown().optional(),
    inference_mode: z.boolean().optional(),
  })
  .loose();
export type PeftAdapterConfig = z.infer<typeof PeftAdapterConfigSchema>;

export function parsePeftAdapterConfig(json: unknown, file: string): { peft: PeftAdapterConfig; lora: LoraConfig } {
  const parsed = PeftAdapterConfigSchema.safeParse(json);
  if (!parsed.success) {
    throw new Error(`${file}: adapter_config.json is not a LoRA config emrl can load (fix or remove the named fields):\n${z.prettifyError(parsed.error)}`);
  }
  const p = parsed.data;
  const lora = parseLoraConfig({ r: p.r, alpha: p.lora_alpha, dropout: p.lora_dropout, targetModules: p.target_modules, useRslora: p.use_rslora }, file);
  return { peft: p, lora };
}

/** adapter_config.json as PEFT writes it for a causal LM (GPT-2's Conv1D layers need fan_in_fan_out). */
export function toPeftAdapterConfig(lora: LoraConfig, model: ModelConfig, baseModelNameOrPath: string | null): Record<string, unknown> {
  return {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: baseModelNameOrPath,
    bias: 'none',
    fan_in_fan_out: model.family === 'gpt2',
    inference_mode: true,
    init_lora_weights: true,
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: lora.alpha,
    lora_dropout: lora.dropout,
    modules_to_save: null,
    peft_type: 'LORA',
    r: lora.r,
    rank_pattern: {},
    revision: null,
    target_modules: [...lora.targetModules],
    task_type: 'CAUSAL_LM',
    use_dora: false,
    use_rslora: lora.useRslora,
  };
}
