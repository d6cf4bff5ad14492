import { Code, I32, moduleBytes, V128 } from './wasm-emit';

/** The parts of the WebAssembly JS API used here (the project's TS libs carry no WebAssembly types). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/**
 * A wasm SIMD GEMM on the backend's own heap, for the products XNNPACK serves badly: small batched
 * products (attention, [B*H, T, hd]) where one XNNPACK call per entry spends more time creating
 * the operator and packing the right operand (~7 ns per packed float) than multiplying.
 *
 * C[m, n] = A[m, k] B[k, n] with A at any strides (rsA, csA: a transposed A costs nothing), B rows
 * contiguous (row stride ldb) and C contiguous. The module is generated per shape (all sizes and
 * strides are constants, so A rows are constant load offsets) and cached. Register tile: MR rows x
 * 8 columns (2 x f32x4 accumulators per row), k loop innermost, no packing. Sums run in the same
 * order as a plain p = 0..k-1 loop (one f32 multiply and one f32 add per term, no FMA).
 */
export interface GemmShape {
  m: number;
  n: number;
  k: number;
  /** A element (i, p) is at a + i * rsA + p * csA (floats). */
  rsA: number;
  csA: number;
  /** B element (p, j) is at b + p * ldb + j. */
  ldb: number;
}

/** (aByteOffset, bByteOffset, cByteOffset) => void. */
export type GemmFn = (a: number, b: number, c: number) => void;

/** Register tile: rows, f32x4 vectors per row (columns / 4), k-loop unroll. */
export interface GemmTiling {
  mr: number;
  nv: number;
  unroll: number;
  /** k-block: B rows per pass over C (the B block stays in cache); later blocks add to C. */
  kc: number;
}

// Locals: params a, b, c; then i32 scratch; then v128 accumulators and operands.
const A = 0, B = 1, C = 2, PA = 3, PB = 4, PC = 5, PCJ = 6, TA = 7, TB = 8, CNT = 9, IT = 10, JT = 11, PBK = 12;
const NUM_I32_LOCALS = 10; // PA..PBK
const ACC0 = 13;

class Emitter {
  readonly code = new Code();
  readonly bv0: number;
  readonly x: number;
  /** k-steps of the current k-block, and whether C already holds the earlier blocks' partial sums. */
  private kSteps = 0;
  private loadC = false;

  constructor(
    readonly s: GemmShape,
    readonly t: GemmTiling,
  ) {
    this.bv0 = ACC0 + t.mr * t.nv;
    this.x = this.bv0 + t.nv;
  }

  get numV128Locals(): number {
    return this.t.mr * this.t.nv + this.t.nv + 1;
  }

  acc(r: number, v: number): number {
    return ACC0 + r * this.t.nv + v;
  }

  /** `steps` k-steps of the tile: acc += A[:, p] * B[p, :], advancing TA and TB. */
  private steps(rows: number, vecs: number, steps: number): void {
    const { code, s } = this;
    for (let u = 0; u < steps; u++) {
      const aOff = u * s.csA * 4;
      const bOff = u * s.ldb * 4;
      for (let v = 0; v < vecs; v++) code.get(TB).v128Load(bOff + 16 * v).set(this.bv0 + v);
      for (let r = 0; r < rows; r++) {
        code.get(TA).v128Load32Splat(aOff + r * s.rsA * 4).set(this.x);
        for (let v = 0; v < vecs; v++) code.get(this.acc(r, v)).get(this.x).get(this.bv0 + v).f32x4Mul().f32x4Add().set(this.acc(r, v));
      }
    }
    code.inc(TA, steps * s.csA * 4).inc(TB, steps * s.ldb * 4);
  }

  /** One register tile of `rows` x (vecs x 4) columns, the last vector storing `lastLanes` lanes. */
  tile(rows: number, vecs: number, lastLanes: number): void {
    const { code, s } = this;
    const k = this.kSteps;
    const u = Math.min(this.t.unroll, k);
    for (let r = 0; r < rows; r++) {
      for (let v = 0; v < vecs; v++) {
        const offset = (r * s.n + 4 * v) * 4;
        if (!this.loadC) code.v128Zero();
        else if (v < vecs - 1 || lastLanes === 4) code.get(PCJ).v128Load(offset);
        else {
          code.v128Zero();
          for (let l = 0; l < lastLanes; l++) code.get(PCJ).f32Load(offset + 4 * l).f32x4ReplaceLane(l);
        }
        code.set(this.acc(r, v));
      }
    }
    code.get(PA).set(TA).get(PB).set(TB);
    const loops = Math.floor(k / u);
    code.i32(loops).set(CNT).loop();
    this.steps(rows, vecs, u);
    code.decBrIf(CNT).end();
    if (k % u > 0) this.steps(rows, vecs, k % u);
    for (let r = 0; r < rows; r++) {
      for (let v = 0; v < vecs; v++) {
        const offset = (r * s.n + 4 * v) * 4;
        if (v < vecs - 1 || lastLanes === 4) {
          code.get(PCJ).get(this.acc(r, v)).v128Store(offset);
        } else {
          for (let l = 0; l < lastLanes; l++) code.get(PCJ).get(this.acc(r, v)).f32x4ExtractLane(l).f32Store(offset + 4 * l);
        }
      }
    }
  }

  /** All column tiles of one row block of `rows` rows (PA, PC point at its first row). */
  rowBlock(rows: number): void {
    const { code, s } = this;
    const nr = 4 * this.t.nv;
    const nFull = Math.floor(s.n / nr);
    const rem = s.n % nr;
    code.get(PBK).set(PB).get(PC).set(PCJ);
    if (nFull > 0) {
      code.i32(nFull).set(JT).loop();
      this.tile(rows, this.t.nv, 4);
      code.inc(PB, nr * 4).inc(PCJ, nr * 4).decBrIf(JT).end();
    }
    if (rem > 0) {
      const vecs = Math.ceil(rem / 4);
      this.tile(rows, vecs, rem - 4 * (vecs - 1));
    }
  }

  /** C (+)= A[:, k0 : k0 + kSteps] B[k0 : k0 + kSteps, :] with A, B already offset to k0. */
  private kBlock(kSteps: number, loadC: boolean, aOffset: number, bOffset: number): void {
    const { code, s } = this;
    this.kSteps = kSteps;
    this.loadC = loadC;
    const mr = this.t.mr;
    code.get(A).i32(aOffset).add().set(PA).get(C).set(PC);
    code.get(B).i32(bOffset).add().set(PBK);
    const mFull = Math.floor(s.m / mr);
    if (mFull > 0) {
      code.i32(mFull).set(IT).loop();
      this.rowBlock(mr);
      code.inc(PA, mr * s.rsA * 4).inc(PC, mr * s.n * 4).decBrIf(IT).end();
    }
    if (s.m % mr > 0) this.rowBlock(s.m % mr);
  }

  module(): Uint8Array {
    const { code, s } = this;
    const kc = Math.min(this.t.kc, s.k);
    for (let k0 = 0; k0 < s.k; k0 += kc) this.kBlock(Math.min(kc, s.k - k0), k0 > 0, k0 * s.csA * 4, k0 * s.ldb * 4);
    const locals = [...new Array<number>(NUM_I32_LOCALS).fill(I32), ...new Array<number>(this.numV128Locals).fill(V128)];
    return moduleBytes(3, locals, code);
  }
}

/** Tile for a shape: 4 rows x 8 or 12 columns, whichever wastes fewer lanes on the last column tile. */
export function defaultTiling(s: GemmShape): GemmTiling {
  const waste = (nr: number): number => (nr - (s.n % nr)) % nr;
  return { mr: 4, nv: waste(12) < waste(8) ? 3 : 2, unroll: 1, kc: 128 };
}

export function gemmModuleBytes(s: GemmShape, t: GemmTiling = defaultTiling(s)): Uint8Array {
  return new Emitter(s, t).module();
}

const cache = new WeakMap<WasmMemory, Map<string, GemmFn>>();

/**
 * The GEMM for this shape over `memory` (compiled once per shape and memory). B may be read up to
 * 3 floats past its last row (lanes that are never stored): callers keep 16 bytes of slack.
 */
export function simdGemm(memory: WasmMemory, s: GemmShape, t: GemmTiling = defaultTiling(s)): GemmFn {
  if (s.m < 1 || s.n < 1 || s.k < 1) throw new Error(`libs/lm/src/wasm-kernels simd-gemm: m, n, k must be >= 1, got ${s.m}, ${s.n}, ${s.k}`);
  let byShape = cache.get(memory);
  if (!byShape) {
    byShape = new Map();
    cache.set(memory, byShape);
  }
  const key = `${s.m},${s.n},${s.k},${s.rsA},${s.csA},${s.ldb},${t.mr},${t.nv},${t.unroll},${t.kc}`;
  let fn = byShape.get(key);
  if (!fn) {
    const instance = new wasmApi.Instance(new wasmApi.Module(gemmModuleBytes(s, t)), { env: { memory } });
    fn = instance.exports['run'] as GemmFn;
    byShape.set(key, fn);
  }
  return fn;
}
