// safetensors read/write: 8-byte LE header length, JSON header { name: { dtype, shape, data_offsets } ,
// __metadata__ }, then the raw little-endian tensor bytes (offsets relative to the end of the header).
import { open } from 'node:fs/promises';
import { endianness } from 'node:os';
import { z } from 'zod';
import { writeFileAtomic } from './atomic';
import { decodeBf16, decodeF16, encodeBf16, encodeF16 } from './dtype';
import { CheckpointError } from './errors';
import { assertFiniteTensor, assertFloatDtype } from './tensor-checks';

export const SAFETENSORS_READ_DTYPES = ['F64', 'F32', 'F16', 'BF16', 'I64', 'I32'] as const;
export type SafetensorsDtype = (typeof SAFETENSORS_READ_DTYPES)[number];
export type SafetensorsWriteDtype = 'F32' | 'BF16' | 'F16';

const BYTES: Record<SafetensorsDtype, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4 };
/** Headers larger than this are treated as garbage rather than as a truncated file. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** A tensor in host memory: floats decoded to float32, integers to int32. */
export interface RawTensor {
  shape: number[];
  data: Float32Array | Int32Array;
  /** The dtype it had in the file (for reporting); absent for tensors made in memory. */
  sourceDtype?: SafetensorsDtype;
}

/** How strictly a reader checks tensor contents. */
export interface ReadSafetensorsOptions {
  /** Read only the tensors whose names pass. */
  filter?: (name: string) => boolean;
  /** Accept NaN / +-Inf in float tensors (default false: refused, naming file and tensor). */
  allowNonFinite?: boolean;
  /** Refuse integer dtypes (default false): set for files that hold only float tensors (weights, optimizer state). */
  floatOnly?: boolean;
}

export interface SafetensorsContent {
  tensors: Map<string, RawTensor>;
  metadata: Record<string, string>;
}

const TensorEntrySchema = z.object({
  dtype: z.string(),
  shape: z.array(z.number().int().min(0)),
  data_offsets: z.tuple([z.number().int().min(0), z.number().int().min(0)]),
});
const MetadataSchema = z.record(z.string(), z.string());
const HeaderSchema = z.record(z.string(), z.unknown());

interface HeaderEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

interface ParsedHeader {
  entries: HeaderEntry[];
  metadata: Record<string, string>;
  /** Absolute file offset where tensor data starts. */
  dataStart: number;
}

/** Random access to the bytes of a file or an in-memory buffer. */
interface ByteSource {
  size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
}

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function isSupportedDtype(d: string): d is SafetensorsDtype {
  return (SAFETENSORS_READ_DTYPES as readonly string[]).includes(d);
}

async function parseHeader(src: ByteSource, file: string): Promise<ParsedHeader> {
  if (src.size < 8) {
    throw new CheckpointError('truncated', file, `file is ${src.size} bytes, shorter than the 8-byte header length`);
  }
  const lenBytes = await src.read(0, 8);
  const headerLen = Number(new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true));
  if (headerLen > src.size - 8) {
    if (headerLen > MAX_HEADER_BYTES) {
      throw new CheckpointError('malformed-header', file, `header length field is ${headerLen} bytes; not a safetensors file`);
    }
    throw new CheckpointError('truncated', file, `header needs ${headerLen} bytes but only ${src.size - 8} follow the length field`);
  }
  const dataStart = 8 + headerLen;
  const dataLen = src.size - dataStart;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(await src.read(8, headerLen)));
  } catch (err) {
    throw new CheckpointError('malformed-header', file, `header is not valid UTF-8 JSON (${(err as Error).message})`);
  }
  const header = HeaderSchema.safeParse(json);
  if (!header.success) throw new CheckpointError('malformed-header', file, 'header JSON must be an object');

  let metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, value] of Object.entries(header.data)) {
    if (name === '__metadata__') {
      const m = MetadataSchema.safeParse(value);
      if (!m.success) throw new CheckpointError('malformed-header', file, '__metadata__ must map strings to strings');
      metadata = m.data;
      continue;
    }
    const e = TensorEntrySchema.safeParse(value);
    if (!e.success) {
      throw new CheckpointError('malformed-header', file, `bad header entry: ${z.prettifyError(e.error).replace(/\n/g, '; ')}`, name);
    }
    const { dtype, shape, data_offsets: [begin, end] } = e.data;
    if (!isSupportedDtype(dtype)) {
      throw new CheckpointError('unsupported-dtype', file, `dtype ${dtype} is not supported (supported: ${SAFETENSORS_READ_DTYPES.join(', ')})`, name);
    }
    if (begin > end) {
      throw new CheckpointError('offsets-out-of-range', file, `data_offsets [${begin}, ${end}] end before they begin`, name);
    }
    const expected = numel(shape) * BYTES[dtype];
    if (end - begin !== expected) {
      throw new CheckpointError('size-mismatch', file, `data_offsets span ${end - begin} bytes but shape [${shape.join(', ')}] of ${dtype} needs ${expected}; the header's dtype or shape does not fit the data (a damaged or hand-edited file: download or save it again)`, name);
    }
    entries.push({ name, dtype, shape, begin, end });
  }

  // Overlaps first (a corrupt header), then whether the data section is long enough.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let contiguous = true;
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (cur.begin < prev.end) {
      throw new CheckpointError('overlapping-offsets', file, `data_offsets [${cur.begin}, ${cur.end}] overlap "${prev.name}" [${prev.begin}, ${prev.end}]`, cur.name);
    }
    if (cur.begin !== prev.end) contiguous = false;
  }
  if (sorted.length > 0 && sorted[0]!.begin !== 0) contiguous = false;
  for (const e of sorted) {
    if (e.end > dataLen) {
      // Tensors that tile the data section with no holes and run past the end: the file lost its tail.
      if (contiguous) {
        const need = sorted[sorted.length - 1]!.end;
        throw new CheckpointError('truncated', file, `file is truncated: header describes ${need} data bytes but only ${dataLen} are present`, e.name);
      }
      throw new CheckpointError('offsets-out-of-range', file, `data_offsets [${e.begin}, ${e.end}] exceed the ${dataLen}-byte data section`, e.name);
    }
  }
  // The reference implementation requires the last tensor to end where the file ends
  // (safetensors' MetadataIncompleteBuffer): extra bytes mean a damaged or mis-concatenated file.
  const end = sorted.length > 0 ? sorted[sorted.length - 1]!.end : 0;
  if (dataLen > end) {
    throw new CheckpointError('size-mismatch', file, `${dataLen - end} bytes follow the last tensor (the header describes ${end} data bytes, the file has ${dataLen}); the file is damaged`);
  }
  return { entries, metadata, dataStart };
}

function decodeData(bytes: Uint8Array, dtype: SafetensorsDtype, file: string, name: string): Float32Array | Int32Array {
  // `bytes` owns its buffer from offset 0 (see readInto), so typed-array views are aligned.
  const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  switch (dtype) {
    case 'F32':
      return new Float32Array(buf);
    case 'F64':
      return Float32Array.from(new Float64Array(buf));
    case 'BF16':
      return decodeBf16(bytes);
    case 'F16':
      return decodeF16(bytes);
    case 'I32':
      return new Int32Array(buf);
    case 'I64': {
      const src = new BigInt64Array(buf);
      const out = new Int32Array(src.length);
      for (let i = 0; i < src.length; i++) {
        const v = src[i]!;
        if (v > 2147483647n || v < -2147483648n) {
          throw new CheckpointError('unsupported-dtype', file, `I64 value ${v} at index ${i} does not fit in int32`, name);
        }
        out[i] = Number(v);
      }
      return out;
    }
  }
}

function assertLittleEndianHost(): void {
  if (endianness() !== 'LE') throw new Error('safetensors: big-endian hosts are not supported');
}

async function readContent(src: ByteSource, file: string, opts: ReadSafetensorsOptions): Promise<SafetensorsContent> {
  assertLittleEndianHost();
  const { entries, metadata, dataStart } = await parseHeader(src, file);
  const tensors = new Map<string, RawTensor>();
  for (const e of entries) {
    if (opts.filter && !opts.filter(e.name)) continue;
    if (opts.floatOnly) assertFloatDtype(e.dtype, file, e.name);
    const bytes = await src.read(dataStart + e.begin, e.end - e.begin);
    const data = decodeData(bytes, e.dtype, file, e.name);
    if (data instanceof Float32Array && !opts.allowNonFinite) assertFiniteTensor(data, e.shape, file, e.name);
    tensors.set(e.name, { shape: e.shape, data, sourceDtype: e.dtype });
  }
  return { tensors, metadata };
}

/**
 * Reads a .safetensors file (tensor by tensor, so files over 2 GB work). Errors name the file and
 * tensor. Float tensors holding NaN / Inf are refused unless `allowNonFinite`.
 */
export async function readSafetensors(path: string, opts: ReadSafetensorsOptions = {}): Promise<SafetensorsContent> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw new CheckpointError('missing-file', path, `cannot open: ${(err as Error).message}`);
  }
  try {
    const stat = await fh.stat();
    if (stat.isDirectory()) throw new CheckpointError('missing-file', path, 'expected a .safetensors file but found a directory; remove it and restore the file');
    const size = stat.size;
    const src: ByteSource = {
      size,
      read: async (offset, length) => {
        const out = new Uint8Array(length);
        const { bytesRead } = await fh.read(out, 0, length, offset);
        if (bytesRead !== length) throw new CheckpointError('truncated', path, `short read at byte ${offset}`);
        return out;
      },
    };
    return await readContent(src, path, opts);
  } finally {
    await fh.close();
  }
}

/** Decodes safetensors bytes held in memory; `file` is only used in error messages. */
export async function decodeSafetensors(bytes: Uint8Array, file = '<buffer>', opts: ReadSafetensorsOptions = {}): Promise<SafetensorsContent> {
  const src: ByteSource = { size: bytes.byteLength, read: async (offset, length) => bytes.slice(offset, offset + length) };
  return readContent(src, file, opts);
}

export interface EncodeOptions {
  /** Float tensors are stored in this dtype; int32 tensors always as I32. */
  dtype?: SafetensorsWriteDtype;
  metadata?: Record<string, string>;
}

/** Bytes one tensor takes when encoded with `dtype`. */
export function encodedByteSize(t: RawTensor, dtype: SafetensorsWriteDtype): number {
  return t.data instanceof Int32Array ? 4 * t.data.length : (dtype === 'F32' ? 4 : 2) * t.data.length;
}

/** Encodes tensors (sorted by name) into the safetensors format. */
export function encodeSafetensors(tensors: ReadonlyMap<string, RawTensor>, opts: EncodeOptions = {}): Uint8Array {
  assertLittleEndianHost();
  const dtype = opts.dtype ?? 'F32';
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  if (opts.metadata) header.__metadata__ = opts.metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    if (numel(t.shape) !== t.data.length) {
      throw new CheckpointError('bad-tensor', '<output>', `shape [${t.shape.join(', ')}] has ${numel(t.shape)} elements but data has ${t.data.length}`, name);
    }
    let bytes: Uint8Array;
    let tdtype: SafetensorsDtype;
    if (t.data instanceof Int32Array) {
      bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      tdtype = 'I32';
    } else if (dtype === 'BF16') {
      bytes = encodeBf16(t.data);
      tdtype = 'BF16';
    } else if (dtype === 'F16') {
      bytes = encodeF16(t.data);
      tdtype = 'F16';
    } else {
      bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      tdtype = 'F32';
    }
    header[name] = { dtype: tdtype, shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  let headerText = JSON.stringify(header);
  // Pad with spaces so the data section starts 8-byte aligned (as the reference implementation does).
  const headerBytesLen = new TextEncoder().encode(headerText).byteLength;
  headerText += ' '.repeat((8 - ((8 + headerBytesLen) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.byteLength;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.byteLength;
  }
  return out;
}

/** Writes a .safetensors file atomically. */
export async function writeSafetensors(path: string, tensors: ReadonlyMap<string, RawTensor>, opts: EncodeOptions = {}): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, opts));
}
