// Test-only: damage described as data (fixtures/reliability/*.yaml), applied to a copy of a good
// file tree. One op per kind of damage a disk, a kill or a person does to a file.
import { appendFileSync, mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type CorruptOp =
  | { write: string; text?: string; hex?: string }
  | { append: string; text?: string; hex?: string }
  | { truncate: string; to: number | 'half' }
  | { delete: string }
  | { mkdir: string }
  | { replace: string; from: string; to: string }
  | { json: string; set: Record<string, unknown> }
  | { header: string; tensor: string; set?: Record<string, unknown>; remove?: true }
  | { tensorBytes: string; tensor: string; element: number; hex: string };

const hexBytes = (hex: string): Buffer => Buffer.from(hex.replace(/\s+/g, ''), 'hex');

/** Splits a safetensors file into its header object and data section. */
function splitSafetensors(bytes: Buffer): { header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>; data: Buffer } {
  const n = Number(bytes.readBigUInt64LE(0));
  return { header: JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')), data: bytes.subarray(8 + n) };
}

function joinSafetensors(header: object, data: Buffer): Buffer {
  const h = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, data]);
}

const BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4 };

/** Sets a dotted path (`a.b.0.c`) inside parsed JSON. */
function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let cur: Record<string, unknown> = obj;
  for (const k of keys.slice(0, -1)) cur = cur[k] as Record<string, unknown>;
  const last = keys[keys.length - 1]!;
  if (value === '$delete') delete cur[last];
  else cur[last] = value;
}

/** Applies `op` to the file tree under `root`. */
export function applyCorruptOp(root: string, op: CorruptOp): void {
  if ('write' in op) writeFileSync(join(root, op.write), op.hex !== undefined ? hexBytes(op.hex) : op.text ?? '');
  else if ('append' in op) appendFileSync(join(root, op.append), op.hex !== undefined ? hexBytes(op.hex) : op.text ?? '');
  else if ('truncate' in op) {
    const file = join(root, op.truncate);
    truncateSync(file, op.to === 'half' ? Math.floor(readFileSync(file).length / 2) : op.to);
  } else if ('delete' in op) rmSync(join(root, op.delete), { recursive: true, force: true });
  else if ('mkdir' in op) {
    rmSync(join(root, op.mkdir), { recursive: true, force: true });
    mkdirSync(join(root, op.mkdir));
  } else if ('replace' in op) {
    const file = join(root, op.replace);
    const text = readFileSync(file, 'latin1');
    if (!text.includes(op.from)) throw new Error(`corrupt-ops: "${op.from}" not found in ${op.replace}`);
    writeFileSync(file, text.replace(op.from, op.to), 'latin1');
  } else if ('json' in op) {
    const file = join(root, op.json);
    const obj = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    for (const [k, v] of Object.entries(op.set)) setPath(obj, k, v);
    writeFileSync(file, JSON.stringify(obj, null, 2));
  } else if ('header' in op) {
    const file = join(root, op.header);
    const { header, data } = splitSafetensors(readFileSync(file));
    if (op.remove) delete header[op.tensor];
    else header[op.tensor] = { ...header[op.tensor]!, ...(op.set as object) };
    writeFileSync(file, joinSafetensors(header, data));
  } else {
    const file = join(root, op.tensorBytes);
    const bytes = readFileSync(file);
    const { header } = splitSafetensors(bytes);
    const e = header[op.tensor]!;
    const at = 8 + Number(bytes.readBigUInt64LE(0)) + e.data_offsets[0] + op.element * BYTES[e.dtype]!;
    hexBytes(op.hex).copy(bytes, at);
    writeFileSync(file, bytes);
  }
}
