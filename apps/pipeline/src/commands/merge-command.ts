import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { saveMergedPretrained, writeFileAtomic, type SafetensorsWriteDtype } from '@emrl/lm';
import { findLatestCheckpoint } from '@emrl/rl-grpo';
import { ConfigError } from '../config/config-error';
import { BackendPreferenceSchema, type BackendPreference } from '../config/pipeline-schema';
import { CHECKPOINT_LORA_DIR, loadPolicyFromDir } from '../wiring';
import { EXIT, type CommandContext } from './context';

const TORCH_TO_SAFETENSORS: Record<string, SafetensorsWriteDtype> = { float32: 'F32', bfloat16: 'BF16', float16: 'F16' };

/** `--dtype` values: a storage dtype, or `source` (the dtype the base weights were stored in). */
export const MERGE_DTYPES = ['f32', 'bf16', 'f16', 'source'] as const;
export type MergeDtype = (typeof MERGE_DTYPES)[number];

export function parseMergeDtype(value: string): MergeDtype {
  const v = value.toLowerCase();
  if (!(MERGE_DTYPES as readonly string[]).includes(v)) throw new ConfigError('--dtype', [`unknown dtype "${value}"; use one of ${MERGE_DTYPES.join(', ')}`]);
  return v as MergeDtype;
}

/** The safetensors dtype to write, or undefined for savePretrained's lossless default. */
function writeDtype(dtype: MergeDtype | undefined, source: SafetensorsWriteDtype | undefined): SafetensorsWriteDtype | undefined {
  if (dtype === undefined) return undefined;
  if (dtype === 'source') return source ?? 'F32';
  return dtype.toUpperCase() as SafetensorsWriteDtype;
}

/** A step directory, or a stage checkpoint directory (its latest.json names the newest step). */
async function resolveMergeInput(input: string): Promise<string> {
  const dir = resolve(input);
  if (!existsSync(dir)) throw new ConfigError(dir, ['not found; pass a checkpoint step directory (runs/<run>/checkpoints/<stage>/step-N), a stage checkpoint directory or a Hugging Face directory']);
  if (existsSync(join(dir, 'config.json'))) return dir;
  const latest = await findLatestCheckpoint(dir);
  if (!latest) throw new ConfigError(dir, ['holds neither config.json (a model directory) nor latest.json (a stage checkpoint directory)']);
  return latest.path;
}

/**
 * Folds a LoRA adapter into its base weights (W + alpha/r * B A, PEFT's merge_and_unload) and writes
 * a plain Hugging Face directory. Takes a LoRA stage's checkpoint (model files + adapter/), or any
 * HF directory with --adapter <PEFT dir>.
 */
export async function mergeLoraCheckpoint(
  input: string,
  out: string,
  opts: { adapter?: string; dtype?: MergeDtype } = {},
): Promise<{ from: string; out: string; adapterParameters: number; dtype: SafetensorsWriteDtype }> {
  const dir = await resolveMergeInput(input);
  const adapter = opts.adapter ? resolve(opts.adapter) : undefined;
  if (!adapter && !existsSync(join(dir, CHECKPOINT_LORA_DIR, 'adapter_config.json'))) {
    throw new ConfigError(dir, [`no LoRA adapter here (expected ${join(dir, CHECKPOINT_LORA_DIR, 'adapter_config.json')}); pass --adapter <PEFT adapter directory>`]);
  }
  const target = resolve(out);
  if (target === dir) throw new ConfigError(target, ['--out must differ from the input directory']);
  const policy = await loadPolicyFromDir(dir, 'merge', adapter);
  try {
    const lora = policy.model.getLora()!;
    const adapterParameters = lora.numParameters();
    const dtype = writeDtype(opts.dtype, policy.model.source?.dtype);
    await saveMergedPretrained(target, policy.model, policy.tokenizer, { dtype });
    const logits = policy.model.getLogitsAdapter();
    if (logits?.toJSON) await writeFileAtomic(join(target, 'adapters', `${logits.name}.json`), JSON.stringify(logits.toJSON()) + '\n');
    const written = (JSON.parse(readFileSync(join(target, 'config.json'), 'utf8')) as { torch_dtype: string }).torch_dtype;
    return { from: dir, out: target, adapterParameters, dtype: TORCH_TO_SAFETENSORS[written] ?? 'F32' };
  } finally {
    policy.model.dispose();
  }
}

/** `emrl merge`: a LoRA checkpoint (or HF dir + PEFT adapter) -> one merged Hugging Face directory. */
export function registerMergeCommand(program: Command, ctx: CommandContext): void {
  program
    .command('merge <checkpoint-or-dir>')
    .description('merge a LoRA adapter into its base weights and write a Hugging Face directory')
    .requiredOption('-o, --out <dir>', 'directory to write the merged model to')
    .option('--adapter <dir>', 'PEFT adapter directory (default: <checkpoint-or-dir>/adapter, as a LoRA stage checkpoints it)')
    .option(
      '--dtype <dtype>',
      `storage dtype of the merged weights: ${MERGE_DTYPES.join(', ')} (source = the base model's, e.g. bf16; default: the source dtype when the merged weights fit it exactly, else f32)`,
    )
    .option('--backend <name>', `tfjs backend: ${BackendPreferenceSchema.options.join(', ')}`, 'auto')
    .addHelpText(
      'after',
      [
        '\nExamples:',
        '  emrl merge runs/my-run/checkpoints/grpo --out merged/',
        '  emrl merge runs/my-run/checkpoints/grpo/step-000040 --out merged/',
        '  emrl merge path/to/Qwen2.5-0.5B --adapter path/to/peft-adapter --out merged/ --dtype source',
      ].join('\n'),
    )
    .action(
      ctx.guard(async (input: string, opts: { out: string; adapter?: string; dtype?: string; backend: string }) => {
        const dtype = opts.dtype === undefined ? undefined : parseMergeDtype(opts.dtype);
        const backend = BackendPreferenceSchema.safeParse(opts.backend);
        if (!backend.success) throw new ConfigError('--backend', [`unknown backend "${opts.backend}"; use one of ${BackendPreferenceSchema.options.join(', ')}`]);
        await ctx.runtime().initBackend(backend.data as BackendPreference);
        const r = await mergeLoraCheckpoint(input, opts.out, { adapter: opts.adapter, dtype });
        ctx.out(`merged the LoRA adapter (${r.adapterParameters} parameters) of ${r.from} into ${r.out} (${r.dtype})`);
        return EXIT.ok;
      }),
    );
}
