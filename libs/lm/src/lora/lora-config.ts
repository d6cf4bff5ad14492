import { z } from 'zod';

/** Target module names per family (the last component of the module path, as PEFT matches them). */
export const LORA_TARGETS = {
  llama: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
  gpt2: ['c_attn', 'c_proj', 'c_fc'],
} as const;

/**
 * LoRA (Hu et al., arXiv 2106.09685) as PEFT's LoraConfig defines it: y = x W^T + s * dropout(x) A^T B^T,
 * s = alpha / r (alpha / sqrt(r) with useRslora, arXiv 2312.03732).
 */
export const LoraConfigSchema = z
  .object({
    r: z.number().int().positive().meta({ description: 'rank of the update (PEFT r)' }),
    alpha: z.number().positive().meta({ description: 'scale numerator (PEFT lora_alpha): the update is multiplied by alpha / r' }),
    dropout: z.number().min(0).lt(1).default(0).meta({ description: 'dropout on the adapter input while training (PEFT lora_dropout); 0 = off' }),
    targetModules: z
      .array(z.string().min(1))
      .min(1)
      .meta({ description: 'module names to adapt: q_proj k_proj v_proj o_proj gate_proj up_proj down_proj (llama/qwen), c_attn c_proj c_fc (gpt2)' }),
    useRslora: z.boolean().default(false).meta({ description: 'rank-stabilized scale alpha / sqrt(r) (PEFT use_rslora)' }),
  })
  .strict()
  .meta({ description: 'LoRA adapter on the linear projections; only its A and B matrices are trained' });
export type LoraConfig = z.infer<typeof LoraConfigSchema>;
export type LoraConfigInput = z.input<typeof LoraConfigSchema>;

export function loraScale(c: LoraConfig): number {
  return c.useRslora ? c.alpha / Math.sqrt(c.r) : c.alpha / c.r;
}

export function parseLoraConfig(input: unknown, source = 'lora config'): LoraConfig {
  const parsed = LoraConfigSchema.safeParse(input);
  if (!parsed.success) throw new Error(`${source}: invalid LoRA config\n${z.prettifyError(parsed.error)}`);
  return parsed.data;
}
