// Bit-level conversions between float32 and the 16-bit float formats found in checkpoints.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** bfloat16 bits -> float32: bf16 is the high half of a float32, so this is exact. */
export function bf16BitsToFloat32(bits: number): number {
  u32[0] = (bits & 0xffff) << 16;
  return f32[0]!;
}

/** float32 -> bfloat16 bits, round to nearest even (what torch's `.to(torch.bfloat16)` does); NaN stays NaN. */
export function float32ToBf16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x007fffff) !== 0) {
    return ((b >>> 16) | 0x0040) & 0xffff; // keep sign, force a quiet-NaN mantissa bit
  }
  const roundingBias = 0x7fff + ((b >>> 16) & 1);
  return ((b + roundingBias) >>> 16) & 0xffff;
}

/** IEEE 754 binary16 bits -> float32 (exact: every half value is a float32), incl. subnormals, inf, NaN. */
export function f16BitsToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24; // zero / subnormal
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Decodes a little-endian bf16 byte buffer into float32. */
export function decodeBf16(bytes: Uint8Array): Float32Array {
  const n = bytes.byteLength >>> 1;
  const out = new Float32Array(n);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < n; i++) outBits[i] = (bytes[2 * i]! | (bytes[2 * i + 1]! << 8)) << 16;
  return out;
}

/** Decodes a little-endian f16 byte buffer into float32. */
export function decodeF16(bytes: Uint8Array): Float32Array {
  const n = bytes.byteLength >>> 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = f16BitsToFloat32(bytes[2 * i]! | (bytes[2 * i + 1]! << 8));
  return out;
}

/** Encodes float32 values as little-endian bf16 bytes (round to nearest even). */
export function encodeBf16(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  for (let i = 0; i < values.length; i++) {
    const h = float32ToBf16Bits(values[i]!);
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = h >>> 8;
  }
  return out;
}

/**
 * float32 -> IEEE 754 binary16 bits, round to nearest even (torch's `.to(torch.float16)`): overflow
 * to +-inf, gradual underflow to subnormals, NaN stays NaN.
 */
export function float32ToF16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15; // rebiased exponent
  if (e >= 0x1f) return sign | 0x7c00; // too large: inf
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal: +-0
    const m = mant | 0x800000; // implicit leading 1
    const shift = 14 - e; // 24-bit significand -> subnormal 10-bit field
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1) === 1)) h += 1;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h += 1; // may carry into the exponent (and to inf): correct
  return sign | h;
}

/** Encodes float32 values as little-endian f16 bytes (round to nearest even). */
export function encodeF16(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  for (let i = 0; i < values.length; i++) {
    const h = float32ToF16Bits(values[i]!);
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = h >>> 8;
  }
  return out;
}

/** True when every value survives a round trip through `dtype` unchanged (NaN counts as kept). */
export function representableIn(values: Float32Array, dtype: 'F32' | 'BF16' | 'F16'): boolean {
  if (dtype === 'F32') return true;
  if (dtype === 'BF16') {
    const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
    for (let i = 0; i < bits.length; i++) if ((bits[i]! & 0xffff) !== 0 && !Number.isNaN(values[i]!)) return false;
    return true;
  }
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    if (f16BitsToFloat32(float32ToF16Bits(x)) !== x && !Number.isNaN(x)) return false;
  }
  return true;
}
