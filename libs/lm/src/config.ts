import { z } from 'zod';
import { RopeScalingSchema } from './model/rope-scaling';

const tokenIdSchema = z.number().int().nonnegative();

/**
 * Normalized decoder configuration shared by both model families.
 *
 * - family 'gpt2': learned positions, LayerNorm with bias, GELU (tanh approx or exact), fused c_attn.
 * - family 'llama': RMSNorm, rotary embeddings, grouped-query attention, SwiGLU. Qwen2 is this family
 *   with q/k/v bias, Qwen3 with per-head q/k RMSNorm (modelType keeps which Hugging Face
 *   architecture the weights came from). hf-config.ts maps each config.json onto this.
 */
export const ModelConfigSchema = z
  .object({
    family: z.enum(['gpt2', 'llama']),
    modelType: z.enum(['gpt2', 'llama', 'qwen2', 'qwen3']).meta({ description: 'Hugging Face model_type the config round-trips to' }),
    vocabSize: z.number().int().positive(),
    hiddenSize: z.number().int().positive(),
    numLayers: z.number().int().positive(),
    numHeads: z.number().int().positive(),
    numKvHeads: z.number().int().positive().meta({ description: 'key/value heads (GQA); equals numHeads for gpt2' }),
    headDim: z.number().int().positive(),
    intermediateSize: z.number().int().positive(),
    maxPositions: z.number().int().positive(),
    normEps: z.number().positive().default(1e-5),
    ropeTheta: z.number().positive().default(10000).meta({ description: 'rotary base; unused by gpt2' }),
    ropeScaling: RopeScalingSchema.nullable().default(null).meta({ description: 'rope_scaling of config.json (linear, dynamic, llama3, yarn); null = plain RoPE' }),
    attentionBias: z.boolean().default(false).meta({ description: 'q/k/v projection bias (Qwen2: true); gpt2 always has biases' }),
    attentionOutBias: z.boolean().default(false).meta({ description: 'o_proj bias (Llama/Qwen3 attention_bias sets q/k/v and o); unused by gpt2' }),
    mlpBias: z.boolean().default(false).meta({ description: 'gate/up/down_proj bias (Llama mlp_bias); unused by gpt2' }),
    qkNorm: z.boolean().default(false).meta({ description: 'per-head RMSNorm of q and k before RoPE (Qwen3)' }),
    slidingWindow: z.number().int().positive().nullable().default(null).meta({
      description: 'sliding attention window (Qwen2/Qwen3 use_sliding_window): layers >= maxWindowLayers attend to the last slidingWindow positions',
    }),
    maxWindowLayers: z.number().int().nonnegative().default(0).meta({ description: 'with slidingWindow: layers from this index on use it (Qwen2 max_window_layers)' }),
    tieWordEmbeddings: z.boolean().default(true),
    activation: z.enum(['gelu_new', 'gelu', 'silu']).meta({ description: 'gelu_new = tanh approximation, gelu = exact erf form (gpt2); silu for llama' }),
    bosTokenId: tokenIdSchema.nullable().default(null),
    eosTokenId: tokenIdSchema.nullable().default(null).meta({ description: 'first end-of-sequence id' }),
    eosTokenIds: z.array(tokenIdSchema).default([]).meta({ description: 'all ids of config.json eos_token_id when it is a list' }),
    padTokenId: tokenIdSchema.nullable().default(null),
  })
  .superRefine((c, ctx) => {
    const issue = (path: string, message: string): void => {
      ctx.addIssue({ code: 'custom', path: [path], message });
    };
    if (c.numHeads % c.numKvHeads !== 0) {
      issue('numKvHeads', `numHeads (${c.numHeads}) must be a multiple of numKvHeads (${c.numKvHeads})`);
    }
    if (c.family === 'gpt2') {
      if (c.modelType !== 'gpt2') issue('modelType', `family gpt2 needs modelType gpt2, got ${c.modelType}`);
      if (c.numKvHeads !== c.numHeads) issue('numKvHeads', `gpt2 has no GQA: set numKvHeads = numHeads (${c.numHeads})`);
      if (c.headDim * c.numHeads !== c.hiddenSize) {
        issue('headDim', `gpt2 needs headDim * numHeads = hiddenSize (${c.headDim} * ${c.numHeads} != ${c.hiddenSize})`);
      }
      if (c.activation === 'silu') issue('activation', 'gpt2 uses activation gelu_new or gelu');
      if (!c.attentionBias) issue('attentionBias', 'gpt2 always has attention biases (HF GPT2Config has no bias option); set attentionBias true');
      if (c.qkNorm || c.ropeScaling || c.slidingWindow !== null) issue('family', 'qkNorm, ropeScaling and slidingWindow are llama-family options');
    } else {
      if (c.modelType === 'gpt2') issue('modelType', 'family llama needs modelType llama, qwen2 or qwen3');
      if (c.activation !== 'silu') issue('activation', 'llama/qwen2/qwen3 use activation silu (SwiGLU)');
      if (c.modelType === 'qwen2' && !c.attentionBias) issue('attentionBias', 'qwen2 always has q/k/v bias; set attentionBias true');
      if (c.modelType === 'qwen2' && (c.attentionOutBias || c.mlpBias)) issue('attentionOutBias', 'qwen2 has no o_proj or MLP bias');
      if (c.qkNorm !== (c.modelType === 'qwen3')) issue('qkNorm', 'qkNorm is true exactly for qwen3');
      if (c.modelType === 'qwen3' && c.mlpBias) issue('mlpBias', 'qwen3 has no MLP bias');
      if (c.modelType !== 'qwen2' && c.attentionBias !== c.attentionOutBias) issue('attentionOutBias', `${c.modelType} attention_bias sets q/k/v and o_proj bias together`);
      if (c.slidingWindow !== null && c.modelType === 'llama') issue('slidingWindow', 'llama has no sliding window');
      if (c.headDim % 2 !== 0) issue('headDim', `rotary embeddings need an even headDim, got ${c.headDim}`);
    }
  });

export type ModelConfig = z.infer<typeof ModelConfigSchema>;
export type ModelFamily = ModelConfig['family'];

/** Input to defineModelConfig: sizes plus anything that differs from the family defaults. */
export type ModelConfigInput = Partial<z.input<typeof ModelConfigSchema>> &
  Pick<z.input<typeof ModelConfigSchema>, 'family' | 'vocabSize' | 'hiddenSize' | 'numLayers' | 'numHeads'>;

/**
 * Fills family defaults (modelType, numKvHeads = numHeads, headDim = hiddenSize / numHeads,
 * intermediateSize 4*hidden for gpt2 and 8/3*hidden rounded to 32 for llama, activation,
 * maxPositions 1024, attentionBias for gpt2/qwen2, qkNorm for qwen3) and validates. Throws a readable error naming the field.
 */
export function defineModelConfig(input: ModelConfigInput, source = 'model config'): ModelConfig {
  const gpt2 = input.family === 'gpt2';
  const hidden = input.hiddenSize;
  const filled = {
    modelType: gpt2 ? 'gpt2' : 'llama',
    numKvHeads: input.numHeads,
    headDim: Math.floor(hidden / input.numHeads),
    intermediateSize: gpt2 ? 4 * hidden : Math.ceil((8 * hidden) / 3 / 32) * 32,
    activation: gpt2 ? 'gelu_new' : 'silu',
    maxPositions: 1024,
    attentionBias: gpt2 || input.modelType === 'qwen2',
    qkNorm: input.modelType === 'qwen3',
    ...input,
  };
  const parsed = ModelConfigSchema.safeParse(filled);
  if (!parsed.success) throw new Error(`${source}: invalid model config\n${z.prettifyError(parsed.error)}`);
  return parsed.data;
}
