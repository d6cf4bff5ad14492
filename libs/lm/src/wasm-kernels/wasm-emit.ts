/**
 * A minimal WebAssembly binary writer: just what the SIMD GEMM kernel (simd-gemm.ts) emits.
 * One module = one exported function over an imported memory ("env"."memory").
 * Spec: https://webassembly.github.io/spec/core/binary/ (SIMD opcodes: 0xfd prefix).
 */

export const I32 = 0x7f;
export const V128 = 0x7b;

/** Unsigned LEB128. */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 (32-bit). */
export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

/** Function-body instruction builder (locals are indices; params come first). */
export class Code {
  readonly bytes: number[] = [];

  private op(...b: number[]): this {
    this.bytes.push(...b);
    return this;
  }

  private simd(opcode: number, ...rest: number[]): this {
    return this.op(0xfd, ...uleb(opcode), ...rest);
  }

  get(i: number): this { return this.op(0x20, ...uleb(i)); }
  set(i: number): this { return this.op(0x21, ...uleb(i)); }
  tee(i: number): this { return this.op(0x22, ...uleb(i)); }
  i32(n: number): this { return this.op(0x41, ...sleb(n)); }
  add(): this { return this.op(0x6a); }
  sub(): this { return this.op(0x6b); }
  loop(): this { return this.op(0x03, 0x40); }
  end(): this { return this.op(0x0b); }
  brIf(depth: number): this { return this.op(0x0d, ...uleb(depth)); }
  f32Store(offset: number): this { return this.op(0x38, 2, ...uleb(offset)); }
  f32Load(offset: number): this { return this.op(0x2a, 2, ...uleb(offset)); }

  v128Load(offset: number): this { return this.simd(0x00, 4, ...uleb(offset)); }
  v128Load32Splat(offset: number): this { return this.simd(0x09, 2, ...uleb(offset)); }
  v128Store(offset: number): this { return this.simd(0x0b, 4, ...uleb(offset)); }
  v128Zero(): this { return this.simd(0x0c, ...new Array<number>(16).fill(0)); }
  f32x4ExtractLane(lane: number): this { return this.simd(0x1f, lane); }
  f32x4ReplaceLane(lane: number): this { return this.simd(0x20, lane); }
  f32x4Add(): this { return this.simd(0xe4); }
  f32x4Mul(): this { return this.simd(0xe6); }

  /** local[i] += delta (i32). */
  inc(i: number, delta: number): this { return this.get(i).i32(delta).add().set(i); }

  /** local[i] -= 1, then branch to the enclosing loop while it is non-zero. */
  decBrIf(i: number): this { return this.get(i).i32(1).sub().tee(i).brIf(0); }
}

function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

function name(s: string): number[] {
  const b = [...Buffer.from(s, 'utf8')];
  return [...uleb(b.length), ...b];
}

/**
 * Module bytes for one exported function `run` with `numParams` i32 params, no results, the given
 * extra locals (type per local) and body; memory imported as env.memory.
 */
export function moduleBytes(numParams: number, locals: number[], body: Code): Uint8Array {
  const type = [0x60, ...uleb(numParams), ...new Array<number>(numParams).fill(I32), 0];
  const types = section(1, [1, ...type]);
  const imports = section(2, [1, ...name('env'), ...name('memory'), 0x02, 0x00, 0x01]);
  const funcs = section(3, [1, 0]);
  const exports = section(7, [1, ...name('run'), 0x00, 0]);
  // Locals as runs of one type each.
  const runs: number[][] = [];
  for (const t of locals) {
    const last = runs[runs.length - 1];
    if (last && last[1] === t) last[0]!++;
    else runs.push([1, t]);
  }
  const localBytes = [...uleb(runs.length), ...runs.flatMap(([n, t]) => [...uleb(n!), t!])];
  const fn = [...localBytes, ...body.bytes, 0x0b];
  const code = section(10, [1, ...uleb(fn.length), ...fn]);
  return new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...types, ...imports, ...funcs, ...exports, ...code]);
}
