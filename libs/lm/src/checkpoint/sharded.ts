// Hugging Face weight layout of a model directory: model.safetensors, or shards listed in
// model.safetensors.index.json ({ metadata: { total_size }, weight_map: { tensor: shard file } }).
import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from './atomic';
import { CheckpointError } from './errors';
import {
  encodedByteSize,
  readSafetensors,
  writeSafetensors,
  type EncodeOptions,
  type RawTensor,
  type ReadSafetensorsOptions,
  type SafetensorsContent,
} from './safetensors';

export const SINGLE_WEIGHTS_FILE = 'model.safetensors';
export const WEIGHTS_INDEX_FILE = 'model.safetensors.index.json';
const SHARD_PATTERN = /^model-\d{5}-of-\d{5}\.safetensors$/;

export const SafetensorsIndexSchema = z.object({
  metadata: z.record(z.string(), z.unknown()).optional(),
  weight_map: z.record(z.string(), z.string().regex(/^[^/\\]+$/, 'shard names must be plain file names')),
});
export type SafetensorsIndex = z.infer<typeof SafetensorsIndexSchema>;

/**
 * Reads all weights of a model directory (single file or sharded). Model weights are floats, so
 * integer dtypes are refused (floatOnly) as are NaN / Inf values, unless `opts` says otherwise.
 */
export async function readSafetensorsDir(dir: string, opts: Omit<ReadSafetensorsOptions, 'filter'> = {}): Promise<SafetensorsContent> {
  const read = { floatOnly: true, ...opts };
  const indexPath = join(dir, WEIGHTS_INDEX_FILE);
  if (existsSync(indexPath)) return readSharded(dir, indexPath, read);
  const single = join(dir, SINGLE_WEIGHTS_FILE);
  if (existsSync(single)) return readSafetensors(single, read);
  throw new CheckpointError('missing-file', dir, `no weights: the directory must contain ${SINGLE_WEIGHTS_FILE} or ${WEIGHTS_INDEX_FILE} with its shards`);
}

async function readSharded(dir: string, indexPath: string, read: Omit<ReadSafetensorsOptions, 'filter'>): Promise<SafetensorsContent> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(indexPath, 'utf8'));
  } catch (err) {
    throw new CheckpointError('bad-index', indexPath, `not valid JSON (${(err as Error).message})`);
  }
  const parsed = SafetensorsIndexSchema.safeParse(json);
  if (!parsed.success) throw new CheckpointError('bad-index', indexPath, z.prettifyError(parsed.error).replace(/\n/g, '; '));
  const byShard = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(parsed.data.weight_map)) {
    byShard.set(shard, [...(byShard.get(shard) ?? []), name]);
  }
  const tensors = new Map<string, RawTensor>();
  const metadata: Record<string, string> = {};
  for (const [shard, names] of byShard) {
    const path = join(dir, shard);
    if (!existsSync(path)) throw new CheckpointError('missing-file', path, `shard listed in ${WEIGHTS_INDEX_FILE} is missing`, names[0]);
    const wanted = new Set(names);
    const content = await readSafetensors(path, { ...read, filter: (n) => wanted.has(n) });
    for (const name of names) {
      const t = content.tensors.get(name);
      if (!t) throw new CheckpointError('bad-index', indexPath, `weight_map puts this tensor in ${shard}, which does not contain it`, name);
      tensors.set(name, t);
    }
    Object.assign(metadata, content.metadata);
  }
  return { tensors, metadata };
}

export interface WriteDirOptions extends EncodeOptions {
  /** Split into shards of at most this many bytes (a tensor is never split); default: one file. */
  maxShardBytes?: number;
}

/**
 * Writes weights into `dir` as model.safetensors, or as shards + index when they exceed maxShardBytes.
 * Removes weight files of the other layout left over from an earlier save, so readers never mix them.
 */
export async function writeSafetensorsDir(dir: string, tensors: ReadonlyMap<string, RawTensor>, opts: WriteDirOptions = {}): Promise<string[]> {
  const dtype = opts.dtype ?? 'F32';
  const names = [...tensors.keys()].sort();
  const max = opts.maxShardBytes ?? Infinity;
  const shards: string[][] = [[]];
  let current = 0;
  let total = 0;
  for (const name of names) {
    const size = encodedByteSize(tensors.get(name)!, dtype);
    total += size;
    if (current > 0 && current + size > max) {
      shards.push([]);
      current = 0;
    }
    shards[shards.length - 1]!.push(name);
    current += size;
  }
  const written: string[] = [];
  if (shards.length === 1) {
    await writeSafetensors(join(dir, SINGLE_WEIGHTS_FILE), tensors, opts);
    written.push(SINGLE_WEIGHTS_FILE);
  } else {
    const n = shards.length;
    const weightMap: Record<string, string> = {};
    for (let i = 0; i < n; i++) {
      const file = `model-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`;
      const part = new Map(shards[i]!.map((name) => [name, tensors.get(name)!] as const));
      await writeSafetensors(join(dir, file), part, opts);
      for (const name of shards[i]!) weightMap[name] = file;
      written.push(file);
    }
    const index: SafetensorsIndex = { metadata: { total_size: total }, weight_map: weightMap };
    await writeFileAtomic(join(dir, WEIGHTS_INDEX_FILE), JSON.stringify(index, null, 2) + '\n');
    written.push(WEIGHTS_INDEX_FILE);
  }
  const keep = new Set(written);
  for (const f of await readdir(dir)) {
    if (!keep.has(f) && (f === SINGLE_WEIGHTS_FILE || f === WEIGHTS_INDEX_FILE || SHARD_PATTERN.test(f))) {
      await rm(join(dir, f), { force: true });
    }
  }
  return written;
}
