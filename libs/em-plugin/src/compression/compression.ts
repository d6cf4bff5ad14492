import * as tf from '@tensorflow/tfjs-core';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic, type LogitsAdapter } from '@emrl/lm';
import { gaussian, mulberry32 } from '../shared/rng';

/**
 * Confidence-compression layers: small transforms of a frozen model's logits, trained with the EM
 * loss (see compression-train.ts), attached with `model.setLogitsAdapter(adapter)` so generation
 * and evaluation see them, and removed with `model.setLogitsAdapter(null)`.
 * Each is saved as its own small JSON file `<model-dir>/adapters/<name>.json`.
 */

export const AdapterKindSchema = z.enum(['temperature', 'vector-scaling']);
export type AdapterKind = z.infer<typeof AdapterKindSchema>;

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

const StoredTensorSchema = z.object({ shape: z.array(z.number().int().min(0)), values: z.array(z.number()) });

/** The adapter file format (version 1). */
export const AdapterFileSchema = z
  .object({
    format: z.literal('emrl-logits-adapter'),
    version: z.literal(1),
    name: z.string().regex(NAME_RE),
    kind: AdapterKindSchema,
    vocabSize: z.number().int().positive().optional(),
    rank: z.number().int().min(0).optional(),
    tensors: z.record(z.string(), StoredTensorSchema),
    /** Free-form: base model, training prompts, steps, lr, temperature, seed, createdAt, ... */
    provenance: z.record(z.string(), z.unknown()).default({}),
  })
  .superRefine((f, ctx) => {
    for (const [key, t] of Object.entries(f.tensors)) {
      const size = t.shape.reduce((a, b) => a * b, 1);
      if (size !== t.values.length) {
        ctx.addIssue({ code: 'custom', path: ['tensors', key], message: `shape [${t.shape}] needs ${size} values, file has ${t.values.length}` });
      }
    }
  });
export type AdapterFile = z.infer<typeof AdapterFileSchema>;

/** A LogitsAdapter that can be saved as a file. */
export interface CompressionAdapter extends LogitsAdapter {
  readonly kind: AdapterKind;
  /** Where the adapter came from (stage, seed, merge note, ...): written into every file of it. */
  provenance: Record<string, unknown>;
  toJSON(provenance?: Record<string, unknown>): AdapterFile;
  dispose(): void;
}

function checkName(name: string, where: string): void {
  if (!NAME_RE.test(name)) {
    throw new Error(`em-plugin compression.ts ${where}: adapter name "${name}" must match ${NAME_RE} (it becomes the file name adapters/<name>.json)`);
  }
}

function stored(v: tf.Tensor): z.infer<typeof StoredTensorSchema> {
  return { shape: [...v.shape], values: Array.from(v.dataSync()) };
}

function fileTensor(file: AdapterFile, key: string, shape: number[]): tf.Tensor {
  const t = file.tensors[key];
  if (!t) throw new Error(`em-plugin compression.ts: ${file.kind} adapter "${file.name}" lacks tensor "${key}"; re-save it with toJSON()`);
  if (t.shape.join(',') !== shape.join(',')) {
    throw new Error(`em-plugin compression.ts: tensor "${key}" of adapter "${file.name}" has shape [${t.shape}], expected [${shape}]`);
  }
  return tf.tensor(t.values, shape, 'float32');
}

/** logits / T with T = exp(s) a learned scalar (s = log-temperature keeps T > 0). */
export class TemperatureAdapter implements CompressionAdapter {
  readonly kind = 'temperature' as const;
  readonly name: string;
  provenance: Record<string, unknown> = {};
  /** s = log T, scalar. */
  readonly logTemperature: tf.Variable;

  constructor(opts: { name?: string; temperature?: number } = {}) {
    this.name = opts.name ?? 'temperature';
    checkName(this.name, 'TemperatureAdapter');
    const t = opts.temperature ?? 1;
    if (!(t > 0) || !Number.isFinite(t)) throw new Error(`em-plugin compression.ts TemperatureAdapter: temperature must be > 0, got ${t}`);
    this.logTemperature = tf.variable(tf.scalar(Math.log(t)), true);
  }

  temperature(): number {
    return Math.exp(this.logTemperature.dataSync()[0]!);
  }

  variables(): tf.Variable[] {
    return [this.logTemperature];
  }

  apply(logits: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => tf.mul(logits, tf.exp(tf.neg(this.logTemperature))) as tf.Tensor3D); // [B, T, V]
  }

  toJSON(provenance: Record<string, unknown> = {}): AdapterFile {
    return { format: 'emrl-logits-adapter', version: 1, name: this.name, kind: this.kind, tensors: { logTemperature: stored(this.logTemperature) }, provenance: { ...this.provenance, ...provenance } };
  }

  static fromJSON(file: AdapterFile): TemperatureAdapter {
    const a = new TemperatureAdapter({ name: file.name });
    const s = fileTensor(file, 'logTemperature', []);
    a.logTemperature.assign(s);
    s.dispose();
    a.provenance = { ...file.provenance };
    return a;
  }

  dispose(): void {
    this.logTemperature.dispose();
  }
}

/**
 * Per-vocabulary scale and bias (vector scaling), plus an optional low-rank output adapter:
 * out = z * scale + bias + (z Wa) Wb, with Wa [V, r] small random and Wb [r, V] zero so the
 * adapter starts as the identity.
 */
export class VectorScalingAdapter implements CompressionAdapter {
  readonly kind = 'vector-scaling' as const;
  readonly name: string;
  provenance: Record<string, unknown> = {};
  readonly vocabSize: number;
  readonly rank: number;
  readonly scale: tf.Variable; // [V]
  readonly bias: tf.Variable; // [V]
  readonly wa: tf.Variable | null; // [V, r]
  readonly wb: tf.Variable | null; // [r, V]

  constructor(opts: { vocabSize: number; rank?: number; name?: string; seed?: number; initStd?: number }) {
    this.name = opts.name ?? 'vector-scaling';
    checkName(this.name, 'VectorScalingAdapter');
    const { vocabSize } = opts;
    const rank = opts.rank ?? 0;
    if (!Number.isInteger(vocabSize) || vocabSize < 1) throw new Error(`em-plugin compression.ts VectorScalingAdapter: vocabSize must be a positive integer, got ${vocabSize}`);
    if (!Number.isInteger(rank) || rank < 0) throw new Error(`em-plugin compression.ts VectorScalingAdapter: rank must be an integer >= 0 (0 = no low-rank part), got ${rank}`);
    this.vocabSize = vocabSize;
    this.rank = rank;
    this.scale = tf.variable(tf.ones([vocabSize]), true);
    this.bias = tf.variable(tf.zeros([vocabSize]), true);
    if (rank > 0) {
      const g = gaussian(mulberry32(opts.seed ?? 0));
      const std = opts.initStd ?? 1 / Math.sqrt(vocabSize);
      this.wa = tf.variable(tf.tensor2d(Array.from({ length: vocabSize * rank }, () => g() * std), [vocabSize, rank]), true);
      this.wb = tf.variable(tf.zeros([rank, vocabSize]), true);
    } else {
      this.wa = null;
      this.wb = null;
    }
  }

  variables(): tf.Variable[] {
    return [this.scale, this.bias, ...(this.wa && this.wb ? [this.wa, this.wb] : [])];
  }

  apply(logits: tf.Tensor3D): tf.Tensor3D {
    const [b, t, v] = logits.shape;
    if (v !== this.vocabSize) {
      throw new Error(`em-plugin compression.ts VectorScalingAdapter "${this.name}": logits have V = ${v}, adapter was built for vocabSize ${this.vocabSize}`);
    }
    return tf.tidy(() => {
      let out = tf.add(tf.mul(logits, this.scale), this.bias); // [B, T, V]
      if (this.wa && this.wb) {
        const flat = tf.reshape(logits, [b * t, v]); // [N, V]
        const lowRank = tf.matMul(tf.matMul(flat, this.wa), this.wb); // [N, V]
        out = tf.add(out, tf.reshape(lowRank, [b, t, v]));
      }
      return out as tf.Tensor3D;
    });
  }

  toJSON(provenance: Record<string, unknown> = {}): AdapterFile {
    const tensors: AdapterFile['tensors'] = { scale: stored(this.scale), bias: stored(this.bias) };
    if (this.wa && this.wb) {
      tensors['wa'] = stored(this.wa);
      tensors['wb'] = stored(this.wb);
    }
    return { format: 'emrl-logits-adapter', version: 1, name: this.name, kind: this.kind, vocabSize: this.vocabSize, rank: this.rank, tensors, provenance: { ...this.provenance, ...provenance } };
  }

  static fromJSON(file: AdapterFile): VectorScalingAdapter {
    if (file.vocabSize === undefined) throw new Error(`em-plugin compression.ts: vector-scaling adapter "${file.name}" lacks vocabSize`);
    const rank = file.rank ?? 0;
    const a = new VectorScalingAdapter({ name: file.name, vocabSize: file.vocabSize, rank });
    const pairs: [tf.Variable | null, string, number[]][] = [
      [a.scale, 'scale', [file.vocabSize]],
      [a.bias, 'bias', [file.vocabSize]],
      [a.wa, 'wa', [file.vocabSize, rank]],
      [a.wb, 'wb', [rank, file.vocabSize]],
    ];
    for (const [variable, key, shape] of pairs) {
      if (!variable) continue;
      const t = fileTensor(file, key, shape);
      variable.assign(t);
      t.dispose();
    }
    a.provenance = { ...file.provenance };
    return a;
  }

  dispose(): void {
    tf.dispose(this.variables());
  }
}

/** Rebuilds an adapter from its parsed file (validates the format first). */
export function adapterFromJSON(json: unknown, source = 'adapter JSON'): CompressionAdapter {
  const parsed = AdapterFileSchema.safeParse(json);
  if (!parsed.success) throw new Error(`em-plugin compression.ts: invalid ${source}: ${z.prettifyError(parsed.error)}`);
  return parsed.data.kind === 'temperature' ? TemperatureAdapter.fromJSON(parsed.data) : VectorScalingAdapter.fromJSON(parsed.data);
}

/** `<modelDir>/adapters/<name>.json` */
export function adapterPath(modelDir: string, name: string): string {
  checkName(name, 'adapterPath');
  return join(modelDir, 'adapters', `${name}.json`);
}

/** Writes the adapter atomically (temp file + rename) next to the model; returns the path. */
export async function saveAdapter(adapter: CompressionAdapter, modelDir: string, provenance: Record<string, unknown> = {}): Promise<string> {
  const path = adapterPath(modelDir, adapter.name);
  const file = adapter.toJSON({ createdAt: new Date().toISOString(), ...provenance });
  await writeFileAtomic(path, JSON.stringify(file) + '\n');
  return path;
}

/** Loads `<modelDir>/adapters/<name>.json`, or a file path when `name` is omitted. */
export async function loadAdapter(modelDirOrFile: string, name?: string): Promise<CompressionAdapter> {
  const path = name === undefined ? modelDirOrFile : adapterPath(modelDirOrFile, name);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`em-plugin compression.ts loadAdapter: cannot read ${path}: ${(e as Error).message}; save it with saveAdapter(adapter, modelDir)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`em-plugin compression.ts loadAdapter: ${path} is not valid JSON: ${(e as Error).message}`);
  }
  return adapterFromJSON(json, path);
}
